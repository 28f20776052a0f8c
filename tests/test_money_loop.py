"""What workers do for money between jobs: read provider balances (Runway's
``/v1/organization``, Luma's ``/credits``, from their simulator twins) and settle the charges
of tasks vidgate gave up on — from the provider's final word, and a late success in full."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.support import run_job, wait_until
from vidgate.accounting import balances
from vidgate.accounting.balances import BalanceReading, covers_next_hour
from vidgate.db import ledger
from vidgate.engine import Engine
from vidgate.engine.charging import read_balances, reconcile_open_charges
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import CostBasis, JobStatus, VideoRequest

KEYS = {
    "RUNWAYML_API_SECRET": "rw-test-secret-0123456789",
    "LUMAAI_API_KEY": "test-luma-key",
    "GEMINI_API_KEY": "gemini-test-key-0123456789",
}


@pytest.fixture
async def engine(
    backend: str, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("VIDGATE_MAX_ATTEMPTS", "1")
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    async with Engine(Settings()) as running:
        yield running


async def test_balances_are_read_kept_and_shown(engine: Engine) -> None:
    readings = {r.provider: r for r in await read_balances(engine.runtime)}
    # Only the configured providers whose catalogue entry says they expose a balance.
    assert set(readings) == {"runway", "luma"}
    runway = readings["runway"]
    assert runway.credits is not None and runway.usd == pytest.approx(runway.credits * 0.01)
    assert readings["luma"].usd == pytest.approx(1000.0)  # 100000 cents
    kept = balances.latest(engine.runtime.store.engine)
    assert kept["luma"].usd == pytest.approx(1000.0)
    assert engine.figures().balances_usd == {"runway": runway.usd, "luma": 1000.0}


def test_a_balance_covers_the_next_hour_only_above_the_hourly_spend() -> None:
    reading = BalanceReading("runway", 10.0, 1000.0, datetime.now(UTC))
    assert covers_next_hour(reading, 9.5) is True
    assert covers_next_hour(reading, 12.0) is False
    assert covers_next_hour(BalanceReading("x", None, 5.0, datetime.now(UTC)), 1.0) is None


async def test_a_task_given_up_on_is_settled_from_runways_final_cost(engine: Engine) -> None:
    # slow: 2.5 s at the simulator, so the task is still running when the 0.1 s deadline comes
    # (a busy machine may start the wait later than the default 0.5 s task takes).
    request = VideoRequest(
        prompt="[sim:slow] a red fox", duration=2, model="runway:gen4.5", deadline_seconds=0.1
    )
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED and done.error is not None
    assert done.error.code == "timeout"
    [attempt] = done.attempts
    # Abandoned and cancelled: Runway's rule charges it until its final record is read.
    assert attempt.cost_basis is CostBasis.ESTIMATED and attempt.cost_usd == pytest.approx(0.24)
    assert await reconcile_open_charges(engine.runtime) == 1
    settled = engine.get(done.id)
    [attempt] = settled.attempts
    assert attempt.cost_basis is CostBasis.BILLED  # cost.credits of the cancelled task
    assert attempt.cost_usd in (0.0, pytest.approx(0.24))  # refunded only if still PENDING
    assert settled.cost_usd == attempt.cost_usd
    assert await reconcile_open_charges(engine.runtime) == 0  # settled once


async def test_a_late_success_found_on_reconciliation_is_charged(engine: Engine) -> None:
    # The Gemini API cannot cancel a Veo operation: it runs on after the deadline.
    ref = "google:veo-3.1-fast-generate-preview"
    request = VideoRequest(
        prompt="[sim:slow] a red fox", duration=4, model=ref, deadline_seconds=0.1
    )
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED
    [attempt] = done.attempts
    assert attempt.remote_id is not None
    provider = engine.runtime.provider("google")

    async def finished() -> bool:
        return (await provider.poll(attempt.remote_id or "")).state.terminal

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(
        wait_until,
        lambda: asyncio.run_coroutine_threadsafe(finished(), loop).result(),
        20.0,
        interval=0.05,
        what="the abandoned operation finishing",
    )
    assert await reconcile_open_charges(engine.runtime) == 1
    settled = engine.get(done.id)
    [attempt] = settled.attempts
    assert attempt.cost_usd is not None and attempt.cost_usd > 0
    assert settled.cost_usd == attempt.cost_usd
    history = [e.message for e in engine.events(done.id)]
    assert any("late success" in m and attempt.remote_id in m for m in history)
    # The ledger agrees with what the attempts cost (a settlement at the end plus, where the
    # late figure differs, one adjustment), so spend reports and budgets see the late charge.
    with engine.runtime.store.engine.connect() as conn:
        spent = conn.execute(
            sa.select(sa.func.sum(ledger.c.amount_usd)).where(
                ledger.c.job_id == done.id, ledger.c.kind.in_(("settlement", "adjustment"))
            )
        ).scalar_one()
    assert spent == pytest.approx(attempt.cost_usd)


async def test_runways_balance_falls_by_what_was_charged_and_refunds_come_back(
    engine: Engine,
) -> None:
    async def credits() -> float:
        readings = {r.provider: r for r in await read_balances(engine.runtime)}
        return readings["runway"].credits or 0.0

    before = await credits()
    failed = await run_job(
        engine, VideoRequest(prompt="[sim:fail] a fox", duration=2, model="runway:gen4.5")
    )
    assert failed.status is JobStatus.FAILED
    assert await credits() == before  # a generation error is refunded
    done = await run_job(engine, VideoRequest(prompt="a fox", duration=2, model="runway:gen4.5"))
    assert done.status is JobStatus.COMPLETED, done.error
    assert await credits() == before - 24  # 12 credits/s x 2 s
    assert done.cost_usd == pytest.approx(0.24)
