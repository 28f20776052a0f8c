from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import ClassVar

import pytest

from tests.test_catalog import veo_like
from vidgate import routing
from vidgate.catalog import Catalog, ProviderProfile, load_catalog
from vidgate.exceptions import MissingCredentials, ModelRetired, UnknownModel, UnsupportedRequest
from vidgate.providers.base import OutputRef, Provider, Submission, SubmitResult, TaskStatus
from vidgate.providers.simulated import SimulatedProvider
from vidgate.types import VideoRequest

ACME = ProviderProfile(
    name="acme",
    title="Acme",
    env_keys=["ACME_API_KEY"],
    models=[
        veo_like(id="cheap"),
        veo_like(
            id="pricey",
            price={"tiers": [{"usd_per_second": 1.0}], "source": "t", "as_of": "2026-01-01"},
        ),
        veo_like(
            id="old",
            lifecycle={"stage": "ga", "retires_on": "2026-09-24", "replacement": "acme:cheap"},
        ),
    ],
)


class AcmeProvider(Provider):
    """A registered provider with a key variable; routing never calls it."""

    name: ClassVar[str] = "acme"

    @classmethod
    def profile(cls) -> ProviderProfile:
        return ACME

    async def submit(self, submission: Submission) -> SubmitResult:
        raise NotImplementedError

    async def poll(self, remote_id: str) -> TaskStatus:
        raise NotImplementedError

    async def download(self, output: OutputRef, dest: Path) -> None:
        raise NotImplementedError


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.setattr(
        routing,
        "provider_classes",
        lambda: {"simulated": SimulatedProvider, "acme": AcmeProvider},
    )
    return Catalog([*load_catalog().providers.values(), ACME])


TODAY = date(2026, 11, 24)


def test_no_keys_routes_to_simulated_and_says_so(acme: Catalog) -> None:
    plan = routing.plan_route(VideoRequest(prompt="a fox", duration=4), acme, today=TODAY)
    assert [c.ref for c in plan.candidates] == ["simulated:synth-1", "simulated:synth-draft"]
    assert plan.notice is not None and "no provider API key" in plan.notice


def test_with_a_key_real_models_are_ordered_by_price_and_simulated_is_never_a_fallback(
    acme: Catalog,
) -> None:
    plan = routing.plan_route(
        VideoRequest(prompt="a fox", duration=4), acme, today=TODAY, environ={"ACME_API_KEY": "k"}
    )
    assert [c.ref for c in plan.candidates] == ["acme:cheap", "acme:pricey"]
    assert plan.skipped["acme:old"] == "retired on 2026-09-24"
    assert plan.notice is None
    assert plan.first.quote is not None and plan.first.quote.usd == pytest.approx(0.4)


def test_explicit_retired_model_names_its_date_and_replacement(acme: Catalog) -> None:
    request = VideoRequest(prompt="a fox", duration=4, model="acme:old")
    with pytest.raises(ModelRetired, match=r"retired on 2026-09-24; use acme:cheap instead"):
        routing.plan_route(request, acme, today=TODAY, environ={"ACME_API_KEY": "k"})


def test_retired_model_can_be_enabled_explicitly(acme: Catalog) -> None:
    request = VideoRequest(prompt="a fox", duration=4, model="acme:old")
    env = {"ACME_API_KEY": "k", "VIDGATE_ALLOW_RETIRED": "acme"}
    plan = routing.plan_route(request, acme, today=TODAY, environ=env)
    assert [c.ref for c in plan.candidates] == ["acme:old"]
    # Never by default routing, only when asked for by name.
    auto = routing.plan_route(
        VideoRequest(prompt="a fox", duration=4), acme, today=TODAY, environ=env
    )
    assert "acme:old" not in [c.ref for c in auto.candidates]


def test_explicit_model_without_its_key_names_the_variable(acme: Catalog) -> None:
    request = VideoRequest(prompt="a fox", duration=4, model="acme:cheap")
    with pytest.raises(MissingCredentials, match="ACME_API_KEY"):
        routing.plan_route(request, acme, today=TODAY, environ={})


def test_provider_without_its_key_names_the_variable(acme: Catalog) -> None:
    request = VideoRequest(prompt="a fox", duration=4, providers=("acme",))
    with pytest.raises(MissingCredentials, match="ACME_API_KEY"):
        routing.plan_route(request, acme, today=TODAY, environ={})


def test_unsupported_combination_lists_what_the_model_allows_and_who_can(acme: Catalog) -> None:
    request = VideoRequest(prompt="a fox", duration=7, resolution="1080p", model="acme:cheap")
    with pytest.raises(UnsupportedRequest) as caught:
        routing.plan_route(request, acme, today=TODAY, environ={"ACME_API_KEY": "k"})
    message = str(caught.value)
    assert "acme:cheap cannot render this request" in message
    assert "duration 7 s is not offered (durations: 4 s, 6 s, 8 s)" in message
    assert "simulated:synth-1" in caught.value.details["alternatives"]
    assert "Models that can: " in message


def test_nothing_fits_explains_each_model(acme: Catalog) -> None:
    request = VideoRequest(prompt="a fox", duration=7, resolution="1080p", providers=("acme",))
    with pytest.raises(UnsupportedRequest) as caught:
        routing.plan_route(request, acme, today=TODAY, environ={"ACME_API_KEY": "k"})
    message = str(caught.value)
    assert "acme:cheap: duration 7 s is not offered" in message
    assert "acme:old: retired on 2026-09-24" in message


def test_catalogue_only_provider_says_no_adapter(acme: Catalog) -> None:
    profile = ProviderProfile(name="future", title="Future", models=[veo_like(id="m")])
    catalog = Catalog([*acme.providers.values(), profile])
    request = VideoRequest(prompt="a fox", duration=4, model="future:m")
    with pytest.raises(UnsupportedRequest, match="no adapter for provider 'future'"):
        routing.plan_route(request, catalog, today=TODAY)


def test_unknown_provider_is_named(acme: Catalog) -> None:
    with pytest.raises(UnknownModel, match="did you mean 'acme'"):
        routing.plan_route(VideoRequest(prompt="x", providers=("acmee",)), acme, today=TODAY)
