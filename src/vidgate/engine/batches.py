"""Off-peak batches: ``priority=batch`` jobs held until the window opens, then released.

Admission decides ``hold_until()``: a batch job admitted outside ``VIDGATE_BATCH_WINDOW`` is
stored in phase ``scheduled`` with ``not_before`` (the next opening) and is neither started nor
queued. The schedule is nothing but that row, so it survives any crash or restart. Workers
release what is due (``release_due()``, every ``VIDGATE_BATCH_RELEASE_INTERVAL`` seconds, at
most ``VIDGATE_BATCH_RELEASE_MAX`` per check): for each job, one transaction moves it to
``queued`` (only if it is still scheduled and queued: a cancel or another worker got there
first otherwise), writes the history line and puts it on the job queue in its tenant's
partition (DBOS's tables are in the same database). From there it runs like any detached job,
under the provider limits and the tenant's fair share; its deadline measures the providers'
time, so it counts from release, never from admission. Every call takes the instant it
decides for, so tests move a clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from dbos import DBOSClient

from .._clock import utcnow
from ..db import job_events, jobs
from ..priority.model import Priority
from ..settings import Settings
from ..types import JobStatus, Phase, VideoRequest
from .fairshare import job_options

log = logging.getLogger("vidgate.engine")

__all__ = ["hold_until", "release_due", "release_loop", "scheduled_note"]


def hold_until(settings: Settings, request: VideoRequest, now: datetime) -> datetime | None:
    """When a job admitted at ``now`` may start: None for at once (not a batch job, no window
    configured, or the window is open), else the window's next opening."""
    if request.priority is not Priority.BATCH:
        return None
    window = settings.resolved_batch_window
    if window is None or window.contains(now):
        return None
    return window.next_open(now)


def scheduled_note(settings: Settings, not_before: datetime) -> str:
    """The history line's note for a held job."""
    window = settings.resolved_batch_window
    where = f" ({window.describe()})" if window is not None else ""
    return (
        f"a batch job, scheduled for the off-peak window{where}: "
        f"not before {not_before:%Y-%m-%d %H:%M} UTC"
    )


def release_due(engine: sa.Engine, client: DBOSClient, now: datetime, limit: int) -> list[str]:
    """Release up to ``limit`` scheduled jobs due at ``now`` onto the job queue; their ids."""
    now = now.astimezone(UTC)
    due = (
        sa.select(jobs.c.id, jobs.c.tenant, jobs.c.not_before)
        .where(
            jobs.c.phase == Phase.SCHEDULED.value,
            jobs.c.status == JobStatus.QUEUED.value,
            jobs.c.not_before <= now,
            jobs.c.deleted_at.is_(None),
        )
        .order_by(jobs.c.not_before, jobs.c.created_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        found = conn.execute(due).all()
    released: list[str] = []
    for job_id, tenant, _ in found:
        stamp = utcnow()
        with engine.begin() as conn:
            moved = conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    jobs.c.phase == Phase.SCHEDULED.value,
                    jobs.c.status == JobStatus.QUEUED.value,
                )
                .values(phase=Phase.QUEUED.value, updated_at=stamp)
            ).rowcount
            if moved != 1:
                continue  # cancelled, or released by another worker
            conn.execute(
                job_events.insert().values(
                    job_id=job_id,
                    at=stamp,
                    phase=Phase.QUEUED.value,
                    progress=0.0,
                    message="released: the batch window is open; its deadline counts from now",
                )
            )
            client.enqueue_in_transaction(conn, job_options(job_id, tenant), job_id)
        released.append(job_id)
    if released:
        log.info("released %d scheduled batch jobs", len(released))
    return released


async def release_loop(release: Callable[[], Awaitable[list[str]]], interval: float) -> None:
    """Release what is due every ``interval`` seconds until cancelled."""
    while True:
        try:
            await release()
        except Exception:  # a database hiccup must not stop the releases for good
            log.exception("releasing scheduled batch jobs failed; trying again later")
        await asyncio.sleep(interval)
