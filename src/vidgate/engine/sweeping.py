"""One retention sweep at a time across every process: the ``vidgate.retention_sweep`` workflow.

Every ``vidgate serve`` runs ``Engine.retention_loop``, which no longer sweeps by itself: each
``VIDGATE_RETENTION_INTERVAL`` it queues this workflow on the maintenance queue with the id
``retention-<slot>`` (``slot`` = the time divided by the interval). DBOS keeps one workflow per
id, so however many processes queue the same slot, it is swept once; and the queue's global
concurrency of one means no two sweeps ever run at the same time, on any host. Any process
with DBOS launched takes it (a worker, ``serve``); one that dies mid-sweep is resumed like any
workflow (the sweep is idempotent: marked rows are not swept again).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from dbos import DBOS, EnqueueOptions

from . import retention
from .outage import step
from .runtime import MAINTENANCE_QUEUE, WORKFLOW_VERSION, current

__all__ = ["SWEEP_WORKFLOW", "sweep_id", "sweep_options", "sweep_workflow"]

log = logging.getLogger("vidgate.retention")

SWEEP_WORKFLOW = "vidgate.retention_sweep"


def sweep_id(now: datetime, interval: float) -> str:
    """The sweep of the interval ``now`` falls in: one id for every process that asks."""
    return f"retention-{int(now.timestamp() // interval)}"


def sweep_options(now: datetime, interval: float) -> EnqueueOptions:
    return {
        "queue_name": MAINTENANCE_QUEUE,
        "workflow_name": SWEEP_WORKFLOW,
        "workflow_id": sweep_id(now, interval),
        "app_version": WORKFLOW_VERSION,
    }


@step("vidgate.retention_sweep.sweep")
async def sweep_step() -> dict[str, object]:
    report = await asyncio.to_thread(retention.sweep, current())
    if report.assets or report.quarantined or report.errors:
        log.info(
            "retention sweep: %d files expired, %d objects deleted, %d bytes freed%s",
            len(report.assets) + len(report.quarantined),
            report.objects_deleted,
            report.bytes_freed,
            f"; errors: {'; '.join(report.errors)}" if report.errors else "",
        )
    return {
        "expired": len(report.assets) + len(report.quarantined),
        "objects_deleted": report.objects_deleted,
        "bytes_freed": report.bytes_freed,
        "errors": report.errors,
    }


@DBOS.workflow(name=SWEEP_WORKFLOW)
async def sweep_workflow() -> dict[str, object]:
    return await sweep_step()
