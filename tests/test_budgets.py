"""Budgets and quotas hold at admission, on SQLite and PostgreSQL: hundreds of concurrent
creates against a budget for a handful admit exactly that handful; a finished job settles its
reservation to what it really cost, once; a failed or cancelled one with nothing charged
releases it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.budget_support import (
    FALLBACK_PER_SECOND,
    FIRST_PER_SECOND,
    kinds,
    ledger_rows,
    priced_catalog,
)
from tests.conftest import small_request
from vidgate.accounting import BudgetBook, close_job
from vidgate.engine import Engine
from vidgate.exceptions import BudgetExceeded, InvalidRequest, QuotaExceeded, VidgateError
from vidgate.settings import Settings
from vidgate.types import JobStatus

pytestmark = pytest.mark.usefixtures("backend")

#: One job's worst case: 2 s on the dearer fallback model.
WORST = 2 * FALLBACK_PER_SECOND


@pytest.fixture(autouse=True)
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    priced_catalog(tmp_path / "catalog", monkeypatch)


def test_admission_reserves_the_dearest_candidate_of_the_chain() -> None:
    engine = Engine(Settings())
    job = engine.enqueue(small_request(duration=2))
    assert job.quote is not None and job.quote.usd == pytest.approx(2 * FIRST_PER_SECOND)
    [held] = ledger_rows(engine.database, job.id)
    assert held["kind"] == "reservation"
    assert held["amount_usd"] == pytest.approx(WORST)  # the fallback costs more than the first
    assert held["seconds"] == 2 and held["tenant"] == "default" and held["end_user"] == ""
    assert "synth-draft" in held["basis"]


def test_hundreds_of_concurrent_creates_never_exceed_the_budget() -> None:
    # Two engines: two connection pools, so on SQLite the in-process admission lock of one
    # does not serialize the other; only the database's own lock does.
    engines = [Engine(Settings()), Engine(Settings())]
    for engine in engines:
        _ = engine.runtime
    BudgetBook(engines[0].database).set("default", None, {"daily_usd": 5 * WORST + 0.01})
    admitted: list[str] = []
    refused: list[VidgateError] = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def create(i: int) -> None:
        if i < 24:
            start.wait()
        try:
            job = engines[i % 2].enqueue(small_request(f"a fox {i}", duration=2))
        except BudgetExceeded as exc:
            with lock:
                refused.append(exc)
            return
        with lock:
            admitted.append(job.id)

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(create, range(240)))
    assert len(admitted) == 5, f"{len(admitted)} admitted against a budget for 5"
    assert len(refused) == 235
    facts = refused[-1].details
    assert facts["limit"] == "daily_usd" and facts["reserved"] == pytest.approx(5 * WORST)
    assert facts["used"] == 0 and facts["requested"] == pytest.approx(WORST)
    assert facts["resets_at"].endswith("+00:00")
    reservations = [r for r in ledger_rows(engines[0].database) if r["kind"] == "reservation"]
    assert sorted(r["job_id"] for r in reservations) == sorted(admitted)
    for engine in engines:
        engine.runtime.store.engine.dispose()


def test_a_user_budget_and_the_tenant_budget_both_hold() -> None:
    engine = Engine(Settings())
    book = BudgetBook(engine.database)
    book.set("default", None, {"monthly_usd": 3 * WORST + 0.01})
    book.set("default", "ann", {"daily_usd": WORST + 0.01})
    engine.enqueue(small_request(duration=2, user="ann"))
    with pytest.raises(BudgetExceeded) as refused:
        engine.enqueue(small_request(duration=2, user="ann"))
    assert refused.value.details["user"] == "ann"
    assert "user 'ann'" in refused.value.message and "$0.60" in refused.value.message
    engine.enqueue(small_request(duration=2, user="bob"))
    engine.enqueue(small_request(duration=2))
    with pytest.raises(BudgetExceeded) as tenant_wide:
        engine.enqueue(small_request(duration=2, user="bob"))
    assert tenant_wide.value.details["user"] is None
    assert tenant_wide.value.details["limit"] == "monthly_usd"
    ann = book.get("default", "ann").standing[0]
    assert ann.reserved == pytest.approx(WORST) and ann.used == 0


def test_quotas_count_videos_a_day_and_seconds_a_month() -> None:
    engine = Engine(Settings())
    book = BudgetBook(engine.database)
    book.set("default", None, {"daily_videos": 2})
    book.set("default", "ann", {"monthly_seconds": 5})
    engine.enqueue(small_request(duration=3, user="ann"))
    with pytest.raises(QuotaExceeded) as seconds:
        engine.enqueue(small_request(duration=3, user="ann"))
    assert seconds.value.details["limit"] == "monthly_seconds"
    assert seconds.value.details["used"] == 3 and seconds.value.details["requested"] == 3
    assert seconds.value.http_status == 429 and seconds.value.retry_after
    engine.enqueue(small_request(duration=1))
    with pytest.raises(QuotaExceeded) as videos:
        engine.enqueue(small_request(duration=1))
    assert videos.value.code == "quota_exceeded"
    assert videos.value.details["limit"] == "daily_videos"
    assert "resets at" in videos.value.message


def test_budget_fields_are_validated_before_anything_changes() -> None:
    book = BudgetBook(Engine(Settings()).database)
    for bad in (
        {"daily_usd": -1},
        {"daily_usd": "10"},
        {"daily_videos": 1.5},
        {"timezone": "Mars/Olympus"},
        {"thresholds": [0]},
        {"colour": 1},
    ):
        with pytest.raises(InvalidRequest):
            book.set("acme", None, bad)
    with pytest.raises(InvalidRequest):
        book.set("acme", "ann", {"timezone": "Europe/Paris"})  # the tenant's, not a user's
    with pytest.raises(InvalidRequest):
        book.set("acme", "not a user!", {"daily_usd": 1})
    assert book.list("acme") == []


def test_a_completed_job_settles_its_reservation_to_the_real_charge() -> None:
    async def scenario() -> None:
        async with Engine(Settings(), worker=True) as engine:
            job = await engine.submit(small_request(duration=2, user="ann"))
            done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), 60)
            assert done.status is JobStatus.COMPLETED
            rows = ledger_rows(engine.database, job.id)
            assert [r["kind"] for r in rows] == ["reservation", "settlement"]
            settled = rows[1]
            charged = engine.runtime.store.charged(job.id)
            assert charged == pytest.approx(2 * FIRST_PER_SECOND)
            assert settled["amount_usd"] == pytest.approx(charged)
            assert settled["attempt_id"] == f"{job.id}-1" and settled["end_user"] == "ann"
            assert settled["provider"] == "simulated" and settled["model"] == "synth-1"
            # Finishing again (a step re-run after a crash) settles nothing twice.
            engine.runtime.store.finish(job.id, JobStatus.COMPLETED, "again")
            with engine.database.begin() as conn:
                assert close_job(conn, job.id) is None, "closed already"
            assert kinds(engine.database, job.id) == ["reservation", "settlement"]
            stand = BudgetBook(engine.database).set("default", None, {"daily_usd": 10})
            assert stand.standing[0].used == pytest.approx(charged)
            assert stand.standing[0].reserved == 0

    asyncio.run(scenario())


def test_an_uncharged_failure_or_cancel_releases_the_reservation() -> None:
    async def scenario() -> None:
        async with Engine(Settings(), worker=True) as engine:
            BudgetBook(engine.database).set("default", None, {"daily_usd": 2 * WORST})
            failed = await engine.submit(small_request("[simulate:fail] a fox", duration=2))
            hanging = await engine.submit(small_request("[simulate:hang] a heron", duration=2))
            with pytest.raises(BudgetExceeded):  # two jobs hold the whole budget
                await engine.submit(small_request(duration=2))
            done = await asyncio.wait_for(engine.wait(failed.id, interval=0.02), 60)
            # The simulated provider refunds a failed generation: charged 0, computed.
            assert done.status is JobStatus.FAILED and done.cost_usd == 0.0
            assert kinds(engine.database, failed.id) == ["reservation", "release"]
            canceled = await engine.cancel(hanging.id)
            assert canceled.status is JobStatus.CANCELED
            assert kinds(engine.database, hanging.id) == ["reservation", "release"]
            stand = BudgetBook(engine.database).get("default").standing[0]
            assert (stand.used, stand.reserved) == (0, 0)
            await engine.submit(small_request(duration=2))  # the budget is whole again

    asyncio.run(scenario())
