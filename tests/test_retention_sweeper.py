"""One sweeper, not one per process: every engine queues the retention sweep of the current
interval, and DBOS keeps one workflow per interval (``engine/sweeping.py``) on a queue that runs
one at a time. Two engines on one database — one running DBOS, one API-only like
``serve --no-worker`` — asking for the same interval get one sweep; the next interval, another."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dbos import DBOSClient

from tests.support import until
from vidgate.engine import Engine
from vidgate.engine.sweeping import SWEEP_WORKFLOW
from vidgate.settings import Settings
from vidgate.types import JobStatus, VideoRequest


def _sweeps(client: DBOSClient) -> list[tuple[str, str]]:
    found = client.list_workflows(name=SWEEP_WORKFLOW)
    return sorted((w.workflow_id, str(w.status)) for w in found)


async def test_two_engines_share_one_sweep_per_interval() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    interval = 60.0
    settings = Settings(
        retention_originals_days=1e-9, retention_renditions_days=1e-9, retention_interval=interval
    )

    def clock() -> datetime:
        return now

    async with Engine(settings, clock=clock) as runner:
        job = await runner.submit(
            VideoRequest(prompt="a kite", duration=1, resolution="360p", aspect_ratio="16:9")
        )
        done = await asyncio.wait_for(runner.wait(job.id, interval=0.02), timeout=120)
        assert done.status is JobStatus.COMPLETED
        other = Engine(settings, clock=clock)  # another process's engine: no DBOS of its own
        try:
            client = other._client()
            ids = {runner.queue_sweep(), other.queue_sweep(), other.queue_sweep()}
            assert len(ids) == 1, "one interval, one sweep, whoever asks"
            (first,) = ids

            async def swept() -> bool:
                return _sweeps(client) == [(first, "SUCCESS")]

            await until(swept, 60, what="the one sweep to run")
            # It did sweep: the expired files are gone.
            assert runner.get(job.id).output.deleted_at is not None  # type: ignore[union-attr]
            now += timedelta(seconds=interval)
            later = {other.queue_sweep(), runner.queue_sweep()}
            assert len(later) == 1 and first not in later

            async def both() -> bool:
                return [s for _, s in _sweeps(client)] == ["SUCCESS", "SUCCESS"]

            await until(both, 60, what="the next interval's sweep")
        finally:
            await other.close()
