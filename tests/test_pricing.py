"""Prices as data: operator overrides (``VIDGATE_PRICES``), billing blocks and minimums, per-pixel
prices, each provider's billing rules for attempts that did not deliver, and the shortest
duration an unset request takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidgate.accounting.charges import attempt_charge, ending
from vidgate.accounting.pricing import load_overrides, priced_catalog
from vidgate.catalog import Price, PriceTier, load_catalog, quote
from vidgate.cli import app
from vidgate.exceptions import ConfigurationError
from vidgate.providers.base import ProviderCharge
from vidgate.routing import shortest_duration
from vidgate.settings import Settings
from vidgate.types import CostBasis, VideoRequest

CATALOG = load_catalog()


# -- operator overrides --------------------------------------------------------------------------


def test_an_override_file_replaces_prices_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '["runway:gen4.5"]\nusd_per_second = 0.10\nnote = "contract 2026-11"\n\n'
        '["luma:ray-2"]\ntiers = [{ resolution = "720p", usd_per_video = 0.5 }]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("VIDGATE_PRICES", str(path))
    catalog = priced_catalog(Settings())
    gen45 = catalog.get("runway:gen4.5")
    assert (gen45.price.status, gen45.price.source) == ("override", "operator")
    priced = quote(gen45, VideoRequest(prompt="x", duration=5))
    assert priced is not None and priced.usd == pytest.approx(0.50)
    assert priced.status == "override"
    ray = quote(catalog.get("luma:ray-2"), VideoRequest(prompt="x", duration=9))
    assert ray is not None and ray.usd == 0.5
    # Models not named keep their catalogue price.
    assert catalog.get("runway:gen4_turbo").price == CATALOG.get("runway:gen4_turbo").price
    models = CliRunner().invoke(app, ["models", "--json", "--provider", "runway"])
    assert models.exit_code == 0, models.output
    row = next(r for r in json.loads(models.output) if r["model"] == "runway:gen4.5")
    assert (row["price_status"], row["price_source"]) == ("override", "operator")


def test_a_json_override_file_works_too(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"fal:fal-ai/veo3.1": {"usd_per_second": 0.3}}), encoding="utf-8")
    prices = load_overrides(path, CATALOG)
    assert prices["fal:fal-ai/veo3.1"].tiers == [PriceTier(usd_per_second=0.3)]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('["runway:gen9"]\nusd_per_second = 0.1\n', "no model 'gen9'"),
        ('["runway:gen4.5"]\nusd_per_second = -1\n', "greater than or equal to 0"),
        ('["runway:gen4.5"]\nnote = "no price"\n', "no price given"),
        (
            '["runway:gen4.5"]\nusd_per_second = 0.1\ntiers = [{ usd_per_video = 1 }]\n',
            "not both",
        ),
        ('["runway:gen4.5"]\nusd_per_second = 0.1\nblock = 5\n', "block: Extra inputs"),
        ("not toml = = ", "not valid TOML"),
        ('"runway:gen4.5" = 0.1\n', "expected a table"),
    ],
)
def test_a_bad_override_file_is_refused_clearly(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_overrides(path, CATALOG)
    assert says in str(caught.value) and str(path) in str(caught.value)


# -- price shapes --------------------------------------------------------------------------------


def test_billing_blocks_and_minimums_round_the_seconds_up() -> None:
    model = CATALOG.get("runway:gen4.5")
    blocky = model.model_copy(
        update={
            "price": Price(
                tiers=[PriceTier(usd_per_second=0.1)],
                source="test",
                as_of="2026-12-01",
                block_seconds=5,
                min_seconds=5,
            )
        }
    )
    assert quote(blocky, VideoRequest(prompt="x", duration=2)).usd == pytest.approx(0.5)  # type: ignore[union-attr]
    six = quote(blocky, VideoRequest(prompt="x", duration=6))
    assert six is not None and six.usd == pytest.approx(1.0) and "billed 10 s" in six.basis


def test_every_catalogue_price_has_a_status_and_no_status_is_override() -> None:
    for model in CATALOG:
        assert model.price.status in ("confirmed", "estimate", "placeholder"), model.ref


# -- billing rules per provider ------------------------------------------------------------------

ASK = VideoRequest(prompt="x", duration=5, resolution="1080p")


@pytest.mark.parametrize(
    ("ref", "how", "usd", "basis"),
    [
        # Luma refunds failed generations; Replicate does not bill failed or canceled ones.
        ("luma:ray-2", "failed", 0.0, CostBasis.COMPUTED),
        ("replicate:kwaivgi/kling-v2.5-turbo-pro", "canceled", 0.0, CostBasis.COMPUTED),
        ("replicate:kwaivgi/kling-v2.5-turbo-pro", "failed", 0.0, CostBasis.COMPUTED),
        # Runway keeps the credits of safety-flagged inputs; fal may bill a 422 after GPU time.
        ("runway:gen4.5", "moderation_input", "list", CostBasis.ESTIMATED),
        ("fal:fal-ai/kling-video/v2.1/master/text-to-video", "moderation_output", "list", None),
        ("fal:fal-ai/kling-video/v2.1/master/text-to-video", "moderation_input", 0.0, None),
        # Veo bills only successful videos; a create that never made a task costs nothing.
        ("google:veo-3.1-generate-preview", "failed", 0.0, CostBasis.COMPUTED),
        ("runway:gen4.5", "never_created", 0.0, CostBasis.COMPUTED),
    ],
)
def test_each_providers_rule_decides_what_an_undelivered_attempt_costs(
    ref: str, how: str, usd: float | str, basis: CostBasis | None
) -> None:
    model = CATALOG.get(ref)
    request = ASK.model_copy(update={"duration": model.default_duration})
    charge = attempt_charge(CATALOG, ref, request, how=how)
    expected = quote(model, request).usd if usd == "list" else usd  # type: ignore[union-attr]
    assert charge.usd == pytest.approx(expected)
    if basis is not None:
        assert charge.basis is basis
    assert charge.open is (how == "canceled")  # its final word is still to be read


def test_a_reported_charge_wins_over_every_rule() -> None:
    refunded = attempt_charge(
        CATALOG, "runway:gen4.5", ASK, how="moderation_input", report=ProviderCharge(credits=0)
    )
    assert (refunded.usd, refunded.basis) == (0.0, CostBasis.BILLED)
    usd = attempt_charge(CATALOG, "luma:ray-2", ASK, how="failed", report=ProviderCharge(usd=0.3))
    assert (usd.usd, usd.basis) == (0.3, CostBasis.BILLED)


def test_abandoned_and_canceled_attempts_stay_open_until_the_provider_answers() -> None:
    charge = attempt_charge(CATALOG, "google:veo-3.1-generate-preview", ASK, how="abandoned")
    assert charge.open and charge.basis is CostBasis.ESTIMATED and (charge.usd or 0) > 0
    unknown = attempt_charge(CATALOG, "google:veo-3.1-generate-preview", ASK, how="unknown")
    assert unknown.usd is None and unknown.basis is None


@pytest.mark.parametrize(
    ("error", "remote_id", "state", "how"),
    [
        (None, "t", "succeeded", "succeeded"),
        ({"code": "submit_uncertain"}, None, None, "unknown"),
        ({"code": "provider_unavailable"}, None, None, "never_created"),
        ({"code": "output_mismatch"}, "t", "succeeded", "bad_output"),
        ({"code": "content_rejected", "details": {"stage": "output"}}, "t", "failed", None),
        ({"code": "content_rejected", "details": {"stage": "input"}}, "t", "failed", None),
        ({"code": "timeout"}, "t", None, "abandoned"),
        ({"code": "generation_failed"}, "t", "canceled", "canceled"),
        ({"code": "generation_failed"}, "t", "failed", "failed"),
    ],
)
def test_how_an_attempt_ended(
    error: dict[str, object] | None, remote_id: str | None, state: str | None, how: str | None
) -> None:
    found = ending(error, remote_id=remote_id, task_state=state)
    if how is None:
        assert error is not None
        how = "moderation_" + str(error["details"]["stage"])  # type: ignore[index]
    assert found == how


# -- the duration an unset request takes ---------------------------------------------------------


def test_the_shortest_duration_at_or_above_the_default_never_the_longest() -> None:
    veo = CATALOG.get("fal:fal-ai/veo3.1")  # 4, 6, 8 s
    assert shortest_duration(veo, 5) == 6
    assert shortest_duration(veo, 4) == 4
    assert shortest_duration(veo, 9) == 8  # nothing that long: its longest
    synth = CATALOG.get("simulated:synth-1")  # 1-60 s in 0.5 s steps
    assert shortest_duration(synth, 5.2) == 5.5
    assert shortest_duration(synth, 0.2) == 1
