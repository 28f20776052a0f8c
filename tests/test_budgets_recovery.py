"""A job whose worker dies by kill -9 mid-way neither loses its reservation nor settles twice:
the reservation holds while nobody runs the job, and the restarted worker settles it once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.budget_support import FALLBACK_PER_SECOND, ledger_rows, priced_catalog
from tests.test_recovery import enqueue_jobs, env, wait_until_done, worker
from vidgate.accounting import BudgetBook
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.types import JobStatus

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("backend")]

__all__ = ["env"]  # the fixture, shared with the recovery tests


@pytest.fixture(autouse=True)
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    priced_catalog(tmp_path / "catalog", monkeypatch)


def test_a_job_killed_mid_way_keeps_its_reservation_and_settles_once(
    env: dict[str, str], settings: Settings
) -> None:
    ids = enqueue_jobs(settings)  # 1 s each; the last one kills its worker after its create
    worst = 1 * FALLBACK_PER_SECOND
    first = worker(env, "w-1")
    assert first.wait(timeout=60) == 137
    engine = Engine(settings)
    owl = engine.get(ids[3])
    assert not owl.done
    assert [r["kind"] for r in ledger_rows(engine.database, owl.id)] == ["reservation"]
    held = BudgetBook(engine.database).set("default", None, {"daily_usd": 100})
    assert held.standing[0].reserved >= worst  # the dead worker's job still holds its money
    second = worker(env, "w-1")
    try:
        wait_until_done(settings, ids)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    store = engine.runtime.store
    for job_id in ids:
        job = store.get(job_id)
        assert job.status is JobStatus.COMPLETED, (job_id, job.error)
        rows = ledger_rows(engine.database, job_id)
        assert [r["kind"] for r in rows] == ["reservation", "settlement"], (job_id, rows)
        assert rows[0]["amount_usd"] == pytest.approx(worst)
        assert rows[1]["amount_usd"] == pytest.approx(store.charged(job_id))
    stand = BudgetBook(engine.database).get("default").standing[0]
    assert stand.reserved == 0
    assert stand.used == pytest.approx(sum(store.charged(i) or 0 for i in ids))
