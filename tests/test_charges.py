"""What a job really cost: each provider's charge, read by its real adapter from its simulator
twin (Runway's ``cost.credits``, Replicate's billed output seconds), else computed from the
catalogue for what was delivered, else the provider's billing rule for how the attempt ended
(refunds, fal's 422 after GPU time, cancels). Runs through the engine on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.support import CATALOG, run_job, wait_until
from vidgate.catalog import effective_params, price_line
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import AttemptStatus, CostBasis, JobStatus, VideoRequest

KEYS = {
    "RUNWAYML_API_SECRET": "rw-test-secret-0123456789",
    "REPLICATE_API_TOKEN": "r8_test-token-0123456789abcdef",
    "FAL_KEY": "fal-key-id:fal-key-secret-0123456789",
    "LUMAAI_API_KEY": "test-luma-key",
}


@pytest.fixture
async def engine(
    backend: str,
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("VIDGATE_MAX_ATTEMPTS", "1")
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    async with Engine(Settings()) as running:
        yield running


def list_price(request: VideoRequest, ref: str, **delivered: object) -> float:
    model = CATALOG.get(ref)
    params = effective_params(model, request)
    line = price_line(model, params.__class__(**{**params.__dict__, **delivered}))
    assert line is not None
    return line.usd


async def test_runway_reports_its_charge_in_credits_at_the_credit_price(engine: Engine) -> None:
    request = VideoRequest(prompt="a red fox", duration=2, model="runway:gen4.5")
    done = await run_job(engine, request)
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    # The twin charges 12 credits/s like Runway; 1 credit = $0.01 (the catalogue's billing).
    assert (attempt.cost_usd, attempt.cost_basis) == (pytest.approx(0.24), CostBasis.BILLED)
    assert done.cost_usd == pytest.approx(0.24)
    assert engine.runtime.store.charged(done.id) == pytest.approx(0.24)


async def test_a_runway_generation_error_is_refunded_as_runway_reports(engine: Engine) -> None:
    request = VideoRequest(prompt="[sim:fail] a red fox", duration=2, model="runway:gen4.5")
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED
    [attempt] = done.attempts
    assert (attempt.cost_usd, attempt.cost_basis) == (0.0, CostBasis.BILLED)
    assert done.cost_usd == 0.0


async def test_runway_output_moderation_keeps_the_credits(engine: Engine) -> None:
    request = VideoRequest(
        prompt="[sim:moderation-after=0.1] a red fox", duration=2, model="runway:gen4.5"
    )
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED and done.error is not None
    assert done.error.code == "content_rejected"
    [attempt] = done.attempts
    assert (attempt.cost_usd, attempt.cost_basis) == (pytest.approx(0.24), CostBasis.BILLED)


async def test_replicate_bills_the_output_seconds_it_reports(engine: Engine) -> None:
    ref = "replicate:google/veo-3.1-fast"
    request = VideoRequest(prompt="a red fox", duration=4, model=ref)
    done = await run_job(engine, request)
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert attempt.cost_basis is CostBasis.BILLED
    assert attempt.cost_usd == pytest.approx(list_price(request, ref))


async def test_a_failed_replicate_prediction_is_not_billed(engine: Engine) -> None:
    request = VideoRequest(
        prompt="[sim:fail] a red fox", duration=4, model="replicate:google/veo-3.1-fast"
    )
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED
    [attempt] = done.attempts
    # Replicate reports no billed seconds for it, and its rule says failures are not billed.
    assert (attempt.cost_usd, attempt.cost_basis) == (0.0, CostBasis.COMPUTED)


async def test_fal_success_is_computed_per_pixel_from_what_was_delivered(engine: Engine) -> None:
    # Seedance on fal is billed per video token (pixels / 1024): priced per megapixel.
    ref = "fal:fal-ai/bytedance/seedance/v1/pro/text-to-video"
    request = VideoRequest(prompt="a red fox", duration=2, resolution="480p", model=ref)
    done = await run_job(engine, request)
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert attempt.cost_basis is CostBasis.COMPUTED
    assert attempt.cost_usd == pytest.approx(list_price(request, ref))
    assert "/Mpx" in (done.quote.basis if done.quote else "")


async def test_a_fal_422_after_gpu_time_is_charged_by_fals_rule(engine: Engine) -> None:
    ref = "fal:fal-ai/kling-video/v2.1/master/text-to-video"
    request = VideoRequest(
        prompt="[sim:moderation-after=0.1] a red fox", duration=5, resolution="1080p", model=ref
    )
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED and done.error is not None
    assert done.error.code == "content_rejected"
    assert done.error.details["stage"] == "output"
    [attempt] = done.attempts
    # fal reports no charge; its catalogue rule says an output-stage 422 may be billed.
    assert (attempt.cost_usd, attempt.cost_basis) == (
        pytest.approx(list_price(request, ref)),
        CostBasis.ESTIMATED,
    )


async def test_fal_input_moderation_is_not_charged(engine: Engine) -> None:
    ref = "fal:fal-ai/kling-video/v2.1/master/text-to-video"
    request = VideoRequest(
        prompt="[sim:moderation] a red fox", duration=5, resolution="1080p", model=ref
    )
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED
    [attempt] = done.attempts
    assert (attempt.cost_usd, attempt.cost_basis) == (0.0, CostBasis.COMPUTED)


async def test_luma_success_is_computed_per_pixel_and_a_failure_is_refunded(
    engine: Engine,
) -> None:
    ref = "luma:ray-flash-2"
    request = VideoRequest(prompt="a red fox", duration=5, resolution="540p", model=ref)
    # 540p 16:9 at 24 fps for 5 s: 960 x 540 x 24 x 5 pixels at the per-megapixel price.
    done = await run_job(engine, request)
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert attempt.cost_basis is CostBasis.COMPUTED
    assert attempt.cost_usd == pytest.approx(list_price(request, ref))
    failed = await run_job(engine, request.model_copy(update={"prompt": "[sim:fail] a fox"}))
    assert failed.status is JobStatus.FAILED
    assert (failed.attempts[0].cost_usd, failed.attempts[0].cost_basis) == (
        0.0,
        CostBasis.COMPUTED,
    )


async def test_a_canceled_runway_job_is_charged_by_runways_cancel_rule(engine: Engine) -> None:
    request = VideoRequest(prompt="[sim:hang] a red fox", duration=2, model="runway:gen4.5")
    job = await engine.submit(request)

    def running() -> bool:
        attempts = engine.get(job.id).attempts
        return bool(attempts) and attempts[0].status is AttemptStatus.RUNNING

    await asyncio.to_thread(wait_until, running, 20.0, interval=0.02, what="a running attempt")
    canceled = await engine.cancel(job.id)
    [attempt] = canceled.attempts
    assert attempt.status is AttemptStatus.CANCELED
    # Canceled while running: Runway keeps the credits; the rule charges the list price until
    # the task's own cost.credits is read.
    assert attempt.cost_basis is CostBasis.ESTIMATED
    assert attempt.cost_usd == pytest.approx(0.24)
    assert canceled.cost_usd == pytest.approx(0.24)
