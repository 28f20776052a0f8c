"""What goes wrong between a user and a provider: retries, ambiguous creates, fallback,
deadlines, cancellation, circuit breakers, provider limits and webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.conftest import small_request
from tests.support import poll_until
from vidgate.engine import Engine
from vidgate.engine.health import CircuitState
from vidgate.providers.base import TaskState
from vidgate.providers.simulated import SimulatedProvider, created
from vidgate.settings import Settings
from vidgate.types import AttemptStatus, Job, JobStatus, Phase, VideoRequest

small = small_request


pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


async def run(engine: Engine, request: VideoRequest) -> Job:
    job = await engine.submit(request)
    return await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)


def creates_for(engine: Engine, job: Job) -> list[str]:
    return [
        c["reference"]
        for c in created(engine.settings.resolved_home)
        if c["reference"].startswith(job.id)
    ]


async def test_transient_poll_and_download_errors_are_retried_not_failed(engine: Engine) -> None:
    job = await run(engine, small("[simulate:flaky-poll] [simulate:flaky-download] a fox"))
    assert job.status is JobStatus.COMPLETED, job.error
    assert len(job.attempts) == 1
    history = [e.message for e in engine.events(job.id)]
    assert sum("status check failed (provider_unavailable" in m for m in history) == 2
    assert sum("download failed (provider_unavailable" in m for m in history) == 1
    statuses = [c.status_code for c in engine.calls(job.id)]
    assert statuses.count(503) == 3


async def test_ambiguous_create_is_reconciled_by_reference_not_sent_twice(engine: Engine) -> None:
    job = await run(engine, small("[simulate:create-error] a fox"))
    assert job.status is JobStatus.COMPLETED, job.error
    assert creates_for(engine, job) == [f"{job.id}-1"], "the provider received exactly one create"
    [attempt] = job.attempts
    assert attempt.remote_id is not None


async def test_ambiguous_create_without_lookup_stops_rather_than_pay_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SimulatedProvider, "supports_lookup", False)
    settings.uncertain_submit = "fail"
    async with Engine(settings) as engine:
        job = await run(engine, small("[simulate:create-error] a fox"))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "submit_uncertain"
    assert job.error.outcome.value == "operator_action"
    assert len(job.attempts) == 1, "no fallback after an uncertain create"
    assert job.attempts[0].possible_orphan
    assert creates_for(engine, job) == [f"{job.id}-1"]


async def test_uncertain_create_falls_back_only_to_another_provider(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fallback`` (the default) never sends to the provider that may hold the task: the
    other simulated model is passed over, so with no other provider the job still fails."""
    monkeypatch.setattr(SimulatedProvider, "supports_lookup", False)
    job = await run(engine, small("[simulate:create-error] a fox"))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "submit_uncertain"
    [attempt] = job.attempts
    assert (attempt.model, attempt.possible_orphan, attempt.orphan_cost_usd) == (
        "synth-1",
        True,
        0.0,
    )
    assert job.routing is not None
    assert "may have left a task" in job.routing["skipped"]["simulated:synth-draft"]
    assert creates_for(engine, job) == [f"{job.id}-1"]
    [orphan] = [e.message for e in engine.events(job.id) if "possible orphan" in e.message]
    assert orphan.endswith("no other provider is left to try")


async def test_definite_create_failures_are_retried(settings: Settings) -> None:
    settings.retry_overrides = {"simulated": {"max_attempts": 2, "base_delay": 0.01}}
    async with Engine(settings) as engine:
        job = await run(engine, small("[simulate:unavailable] a fox", model="simulated:synth-1"))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "provider_unavailable"
    assert any("create failed" in e.message for e in engine.events(job.id))


async def test_terminal_failure_falls_back_to_the_next_candidate(engine: Engine) -> None:
    job = await run(engine, small("[simulate:fail@1] a fox"))
    assert job.status is JobStatus.COMPLETED, job.error
    first, second = job.attempts
    assert (first.model, first.status, first.outcome) == (
        "synth-1",
        AttemptStatus.FAILED,
        "terminal",
    )
    assert first.error is not None and first.error.code == "generation_failed"
    assert (second.model, second.status) == ("synth-draft", AttemptStatus.SUCCEEDED)
    assert (job.provider, job.model) == ("simulated", "synth-draft")
    assert job.routing is not None
    assert job.routing["candidates"] == ["simulated:synth-1", "simulated:synth-draft"]
    assert any("attempt 1 on simulated:synth-1 failed" in e.message for e in engine.events(job.id))


async def test_bad_output_falls_back_too(engine: Engine) -> None:
    job = await run(engine, small("[simulate:wrong-duration@1] a fox"))
    assert job.status is JobStatus.COMPLETED, job.error
    assert [a.status for a in job.attempts] == [AttemptStatus.FAILED, AttemptStatus.SUCCEEDED]
    assert job.attempts[0].error is not None
    assert job.attempts[0].error.code == "output_mismatch"
    assert job.output is not None and job.output.media is not None
    assert job.output.media.duration == pytest.approx(1.0, abs=1e-3)


async def test_moderation_does_not_fall_back_unless_allowed(settings: Settings) -> None:
    async with Engine(settings) as engine:
        job = await run(engine, small("[simulate:moderation@1] a fox"))
    assert job.status is JobStatus.FAILED and len(job.attempts) == 1
    assert job.error is not None and job.error.code == "content_rejected"
    settings.fallback_on_moderation = True
    async with Engine(settings) as engine:
        job = await run(engine, small("[simulate:moderation@1] a fox"))
    assert job.status is JobStatus.COMPLETED and len(job.attempts) == 2


async def test_stuck_in_a_provider_queue_cancels_and_falls_back(settings: Settings) -> None:
    settings.provider_queue_timeout = 0.3
    async with Engine(settings) as engine:
        job = await run(engine, small("[simulate:stuck-queued@1] a fox"))
        calls = engine.calls(job.id)
    assert job.status is JobStatus.COMPLETED, job.error
    first = job.attempts[0]
    assert first.status is AttemptStatus.FAILED and first.error is not None
    assert "waited in simulated's queue" in first.error.message
    cancels = [c for c in calls if c.url.endswith("/cancel")]
    assert [c.url for c in cancels] == [f"simulated://tasks/{first.remote_id}/cancel"]


async def test_deadline_ends_the_job_and_cancels_the_remote_task(engine: Engine) -> None:
    job = await run(engine, small("[simulate:hang] a fox", deadline_seconds=0.5))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == "timeout"
    assert len(job.attempts) == 1, "a deadline never falls back"
    assert any(c.url.endswith("/cancel") for c in engine.calls(job.id))


async def test_time_in_vidgates_own_queue_does_not_count_against_the_deadline(
    settings: Settings,
) -> None:
    """One provider slot, held by a hanging job: the second job waits in vidgate's queue for
    longer than its whole deadline, then gets the slot and still completes — the deadline
    measures the provider's time, not ours."""
    settings.provider_limits = {"simulated": {"concurrency": 1}}
    deadline = 2.0
    async with Engine(settings) as engine:
        blocker = await engine.submit(small("[simulate:hang] a mole"))
        async for snapshot in engine.watch(blocker.id, interval=0.02):
            if snapshot.attempts and snapshot.attempts[0].remote_id:
                break
        waiting = await engine.submit(small("a fox", deadline_seconds=deadline))
        # Time passing while the job waits for the provider slot is what is under test.
        await asyncio.sleep(deadline + 1.0)
        assert engine.get(waiting.id).attempts == [], "it waited behind the blocker"
        await engine.cancel(blocker.id)
        done = await asyncio.wait_for(engine.wait(waiting.id, interval=0.02), timeout=60)
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert attempt.submitted_at is not None and attempt.submitted_at - done.created_at >= (
        timedelta(seconds=deadline)
    ), "the job reached the provider only after its deadline had passed since creation"


async def test_a_tenant_default_deadline_applies_when_the_request_sets_none(
    settings: Settings,
) -> None:
    settings.tenant_deadlines = {"acme": 0.5}
    async with Engine(settings) as engine:
        job = await engine.submit(small("[simulate:hang] a fox"), tenant="acme")
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)
    assert done.tenant == "acme"
    assert done.error is not None and done.error.code == "timeout"


async def test_cancel_stops_the_workflow_and_the_remote_task(engine: Engine) -> None:
    job = await engine.submit(small("[simulate:hang] a fox"))
    async for snapshot in engine.watch(job.id, interval=0.02):
        if snapshot.phase is Phase.GENERATING and snapshot.attempts:
            break
    canceled = await engine.cancel(job.id)
    assert canceled.status is JobStatus.CANCELED
    [attempt] = canceled.attempts
    assert attempt.status is AttemptStatus.CANCELED
    poll = await SimulatedProvider(engine.settings).poll(attempt.remote_id or "")
    assert poll.state is TaskState.CANCELED
    # Cancelling again is harmless, and the job stays canceled.
    assert (await engine.cancel(job.id)).status is JobStatus.CANCELED


async def test_open_circuit_skips_the_provider(settings: Settings) -> None:
    settings.circuit_threshold = 2
    settings.max_attempts = 1
    settings.outage_wait = 0  # fail at once instead of waiting for the provider to come back
    async with Engine(settings) as engine:
        for _ in range(2):
            failed = await run(engine, small("[simulate:fail] a fox"))
            assert failed.error is not None and failed.error.code == "generation_failed"
        [health] = [h for h in engine.health() if h.provider == "simulated"]
        assert health.state is CircuitState.OPEN
        job = await run(engine, small("a fox"))
    assert job.status is JobStatus.FAILED and job.attempts == []
    assert job.error is not None and "circuit open" in job.error.message
    assert job.routing is not None and "circuit open" in job.routing["skipped"]["simulated:synth-1"]


async def test_a_job_arriving_during_an_outage_waits_for_the_provider(settings: Settings) -> None:
    settings.circuit_threshold = 2
    settings.circuit_cooldown = 1.5
    settings.max_attempts = 1
    async with Engine(settings) as engine:
        for _ in range(2):
            await run(engine, small("[simulate:fail] a fox"))
        [health] = [h for h in engine.health() if h.provider == "simulated"]
        assert health.state is CircuitState.OPEN
        # It arrives while the circuit is open: it waits for the cooldown, then probes.
        job = await run(engine, small("a fox"))
        assert job.status is JobStatus.COMPLETED, job.error
        waits = [e for e in engine.events(job.id) if e.phase is Phase.PROVIDER_OUTAGE]
        assert waits and "simulated: circuit open until" in waits[0].message
        (attempt,) = job.attempts
        assert attempt.submitted_at is not None and health.retry_at is not None
        assert attempt.submitted_at >= health.retry_at, "it probed only after the cooldown"
        [health] = [h for h in engine.health() if h.provider == "simulated"]
        assert health.state is CircuitState.CLOSED  # the probe succeeded


async def test_the_outage_wait_is_bounded(settings: Settings) -> None:
    settings.circuit_threshold = 2
    settings.circuit_cooldown = 600.0
    settings.outage_wait = 0.5
    settings.max_attempts = 1
    async with Engine(settings) as engine:
        for _ in range(2):
            await run(engine, small("[simulate:fail] a fox"))
        job = await run(engine, small("a fox"))
    assert job.status is JobStatus.FAILED and job.attempts == []
    assert job.error is not None and job.error.code == "provider_unavailable"
    waits = [e.message for e in engine.events(job.id) if e.phase is Phase.PROVIDER_OUTAGE]
    assert len(waits) == 1 and "asking again in 0.5 s, 0 of 0.5 s waited" in waits[0]


async def test_provider_concurrency_limit_holds(settings: Settings) -> None:
    settings.provider_limits = {"simulated": {"concurrency": 1}}
    async with Engine(settings) as engine:
        jobs = [await engine.submit(small(f"fox {i}", seed=i)) for i in range(2)]
        done = [await asyncio.wait_for(engine.wait(j.id, interval=0.02), 60) for j in jobs]
    assert all(j.status is JobStatus.COMPLETED for j in done)
    spans = sorted(
        (a.submitted_at, a.finished_at) for j in done for a in j.attempts if a.submitted_at
    )
    (_, first_end), (second_start, _) = spans
    assert first_end is not None and second_start is not None
    assert second_start >= first_end, "the second task started while the first was in flight"


async def test_a_webhook_wakes_the_job_before_the_next_poll(settings: Settings) -> None:
    settings.poll_interval = 60.0  # polling alone would take a minute
    settings.simulated_latency = 0.2
    async with Engine(settings) as engine:
        job = await engine.submit(small("a fox"))
        async for snapshot in engine.watch(job.id, interval=0.02):
            if snapshot.attempts and snapshot.attempts[0].remote_id:
                break
        attempt = engine.get(job.id).attempts[0]
        provider = SimulatedProvider(settings)
        await poll_until(
            provider, attempt.remote_id or "", lambda s: s.state is TaskState.SUCCEEDED
        )
        engine.notify(job.id, attempt.id, {"status": "succeeded"})
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=20)
    assert done.status is JobStatus.COMPLETED
