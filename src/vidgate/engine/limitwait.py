"""Whether an attempt about to be queued on its provider's queue will wait for the provider's
limit (``VIDGATE_PROVIDER_LIMITS``), and saying so on the job.

The job workflow asks just before it queues an attempt (in the ``admit`` step). When the
provider's slots (or the tenant's share of them, or its starts this minute) are taken, the job
moves to phase ``provider_limit`` with a history line such as ``queued for runway's limit
(4 at once; 12 of yours ahead)``. The attempt's first step moves the job on to ``submitting``,
which is how the wait ends on the job.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from ..settings import Settings
from ..types import Phase
from .fairshare import partition_key, provider_queue_limits, workflow_status
from .runtime import provider_queue
from .store import JobStore

__all__ = ["limit_wait", "note_limit_wait"]


def limit_wait(engine: sa.Engine, settings: Settings, provider: str, tenant: str) -> str | None:
    """Why an attempt of ``tenant`` queued on ``provider`` now would wait, or None when the
    provider has no limit or room under it."""
    limits = provider_queue_limits(settings, provider)
    concurrency: int | None = limits["global_concurrency"]
    per_minute = limits["limiter"]["limit"] if limits["limiter"] else None
    if not concurrency and not per_minute:
        return None
    ws = workflow_status(engine)
    key = partition_key(tenant)
    mine = ws.c.queue_partition_key == key
    on_queue = ws.c.queue_name == provider_queue(provider)
    with engine.connect() as conn:
        running, running_mine, ahead = conn.execute(
            sa.select(
                sa.func.count().filter(ws.c.status == "PENDING"),
                sa.func.count().filter(ws.c.status == "PENDING", mine),
                sa.func.count().filter(ws.c.status == "ENQUEUED", mine),
            ).where(on_queue, ws.c.status.in_(("PENDING", "ENQUEUED")))
        ).one()
        since = int((time.time() - 60.0) * 1000)
        started = (
            conn.execute(
                sa.select(sa.func.count()).where(
                    on_queue, ws.c.status != "ENQUEUED", ws.c.started_at_epoch_ms > since
                )
            ).scalar_one()
            if per_minute
            else 0
        )
    behind = f"; {ahead} of yours ahead" if ahead else ""
    if concurrency and running >= concurrency:
        return f"queued for {provider}'s limit ({concurrency} at once{behind})"
    share: int | None = limits["partition_concurrency"]
    if concurrency and share is not None and share < concurrency and running_mine >= share:
        return (
            f"queued for {provider}'s limit ({share} at once per tenant, "
            f"{concurrency} in all{behind})"
        )
    if per_minute and started >= per_minute:
        return f"queued for {provider}'s limit ({per_minute} starts a minute{behind})"
    return None


def note_limit_wait(store: JobStore, settings: Settings, job_id: str, provider: str) -> None:
    """Put the job in phase ``provider_limit``, with a history line, if its next attempt will
    wait for ``provider``'s limit."""
    if not settings.provider_limits.get(provider):
        return  # no limit: nothing to read
    job = store.get(job_id)
    reason = limit_wait(store.engine, settings, provider, job.tenant)
    if reason is not None:
        store.set_phase(job_id, Phase.PROVIDER_LIMIT, job.progress, reason)
