"""An ambiguous create at a provider that cannot be asked (Runway): never sent there twice, and
then the policy decides — ``fallback`` (the default) goes on with another provider and records
the possible orphan; ``fail`` ends the job with ``submit_uncertain``. Runway is the simulator's
twin on loopback; the second provider is the offline ``simulated`` one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from vidgate.catalog import load_catalog, quote
from vidgate.engine import Engine
from vidgate.providers.simulated import SimulatedProvider, created
from vidgate.server.schemas import video_object
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import AttemptStatus, Job, JobStatus, VideoRequest

KEY = "rw-test-secret-0123456789"


@pytest.fixture
def runway(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    monkeypatch.setenv("VIDGATE_RUNWAY_BASE_URL", simulator.url + "/runway")
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    return simulator


@pytest.fixture
async def engine(runway: RunningSimulator, settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


def ambiguous_on_runway(**fields: object) -> VideoRequest:
    """Runway first (its create answers 500 after making the task), then the offline provider."""
    return VideoRequest.model_validate(
        {
            "prompt": "[sim:500-after-create] a red fox in snow",
            "duration": 2,
            "providers": ("runway", "simulated"),
            **fields,
        }
    )


async def run(engine: Engine, request: VideoRequest, tenant: str | None = None) -> Job:
    job = await (engine.submit(request, tenant=tenant) if tenant else engine.submit(request))
    return await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)


async def test_fallback_completes_elsewhere_and_records_the_possible_orphan(
    engine: Engine, runway: RunningSimulator
) -> None:
    job = await run(engine, ambiguous_on_runway())
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.provider == "simulated"
    first, second = job.attempts
    # exactly one create reached Runway: it was never sent there again
    assert runway.state.creates["runway"] == 1
    assert runway.state.creates_by_reference["runway"] == {first.reference: 1}
    # the Runway attempt is a possible orphan, with its quote as the estimated cost
    assert (first.provider, first.status) == ("runway", AttemptStatus.FAILED)
    assert first.error is not None and first.error.code == "submit_uncertain"
    assert first.possible_orphan is True
    quoted = quote(load_catalog().get(f"runway:{first.model}"), job.request)
    assert quoted is not None and quoted.usd > 0
    assert first.orphan_cost_usd == pytest.approx(quoted.usd)
    assert first.cost_usd is None, "not known to be charged, so not in the job's cost"
    assert (second.provider, second.status) == ("simulated", AttemptStatus.SUCCEEDED)
    assert second.possible_orphan is False and second.orphan_cost_usd is None
    history = [e.message for e in engine.events(job.id)]
    [orphan] = [m for m in history if "possible orphan" in m]
    assert first.reference in orphan and f"${quoted.usd:.2f}" in orphan
    assert "going on with another provider" in orphan
    # the gateway's Video object carries it too
    shown = video_object(job)["attempts"]
    assert [(a["possible_orphan"], a["orphan_cost_usd"]) for a in shown] == [
        (True, pytest.approx(quoted.usd)),
        (False, None),
    ]


async def test_fail_policy_ends_the_job_with_submit_uncertain(
    runway: RunningSimulator, settings: Settings
) -> None:
    settings.uncertain_submit = "fail"
    async with Engine(settings) as engine:
        job = await run(engine, ambiguous_on_runway())
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "submit_uncertain"
    [attempt] = job.attempts
    assert attempt.possible_orphan is True  # recorded either way: a task may exist
    assert runway.state.creates["runway"] == 1
    assert runway.state.creates_by_reference["runway"] == {attempt.reference: 1}
    assert not created(settings.resolved_home), "nothing went to the other provider"


async def test_a_tenant_policy_overrides_the_global_default(
    engine: Engine, runway: RunningSimulator
) -> None:
    assert engine.settings.uncertain_submit == "fallback"
    book = TenantBook(engine.runtime.store.engine)
    book.ensure_tenant("careful", uncertain_submit="fail")
    book.ensure_tenant("eager")
    assert (book.uncertain_submit("careful"), book.uncertain_submit("eager")) == ("fail", None)
    stopped = await run(engine, ambiguous_on_runway(), tenant="careful")
    assert stopped.status is JobStatus.FAILED
    assert stopped.error is not None and stopped.error.code == "submit_uncertain"
    went_on = await run(engine, ambiguous_on_runway(), tenant="eager")
    assert went_on.status is JobStatus.COMPLETED, went_on.error
    assert runway.state.creates["runway"] == 2, "one create per job, never a second"


def test_a_tenant_policy_is_fallback_or_fail(settings: Settings) -> None:
    from vidgate.db import make_engine, upgrade
    from vidgate.exceptions import InvalidRequest

    settings.ensure_dirs()
    db = make_engine(settings.resolved_database_url)
    upgrade(db)
    book = TenantBook(db)
    with pytest.raises(InvalidRequest, match="fallback, fail"):
        book.ensure_tenant("acme", uncertain_submit="retry")
    book.ensure_tenant("acme", uncertain_submit="fallback")
    assert book.uncertain_submit("acme") == "fallback"
    book.ensure_tenant("acme", uncertain_submit=None)
    assert book.uncertain_submit("acme") is None


def test_the_global_policy_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    assert Settings().uncertain_submit == "fallback"
    monkeypatch.setenv("VIDGATE_UNCERTAIN_SUBMIT", "fail")
    assert Settings().uncertain_submit == "fail"
    monkeypatch.setenv("VIDGATE_UNCERTAIN_SUBMIT", "maybe")
    with pytest.raises(ValidationError):
        Settings()


async def test_the_simulated_providers_ambiguous_create_falls_back_to_runway(
    engine: Engine, runway: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SimulatedProvider, "supports_lookup", False)  # as if it could not ask
    request = VideoRequest(
        prompt="[simulate:create-error] a red fox", duration=2, providers=("simulated", "runway")
    )
    job = await run(engine, request)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.provider == "runway"
    first = job.attempts[0]
    assert (first.provider, first.possible_orphan) == ("simulated", True)
    mine = [c["reference"] for c in created(engine.settings.resolved_home)]
    assert mine == [first.reference], "exactly one create at the provider that may hold a task"
    assert runway.state.creates["runway"] == 1
