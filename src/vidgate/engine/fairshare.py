"""Fair share between tenants: every vidgate queue entry carries its tenant as DBOS's
``queue_partition_key``, and the queues that have limits are partitioned by it.

- The job queue (``vidgate-jobs``): one tenant may fill at most ``VIDGATE_TENANT_JOB_SHARE`` of
  a worker's job slots (``VIDGATE_WORKER_CONCURRENCY``), so a burst from one tenant always
  leaves slots for another tenant's job.
- A provider queue with a limit (``VIDGATE_PROVIDER_LIMITS``): the limit still holds for the
  provider as a whole; one tenant may hold at most ``VIDGATE_TENANT_PROVIDER_SHARE`` of it.
  DBOS serves the partitions of a queue in a new random order on every poll, so even at a share
  of 1 a tenant's single job waits for about as many freed slots as there are tenants waiting,
  not for another tenant's whole backlog; below 1 a slot is kept for others at all times.

A partitioned DBOS queue accepts an entry without a partition key and never runs it, and it
does not support deduplication ids; so every enqueue goes through this module (``job_options``,
``enqueue_attempt``), which always sets a validated key and never a deduplication id (vidgate
keeps idempotency by workflow id: a job's workflow id is its job id, an attempt's
``<job>-<n>``, and an ``Idempotency-Key`` is resolved by the job store before anything is
queued). Entries queued before partitions existed are given the default key by ``adopt_legacy``
when an engine starts and after it takes over a dead process's work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import sqlalchemy as sa
from dbos import DBOS, EnqueueOptions, SetEnqueueOptions, SetWorkflowID, WorkflowHandleAsync

from ..exceptions import InvalidRequest
from ..settings import Settings
from .runtime import JOB_QUEUE, PROVIDER_QUEUE_PREFIX, WORKFLOW_VERSION, provider_queue
from .store import DEFAULT_TENANT

__all__ = [
    "DEFAULT_PARTITION",
    "adopt_legacy",
    "enqueue_attempt",
    "job_options",
    "job_queue_limits",
    "partition_key",
    "provider_queue_limits",
    "share_of",
    "workflow_status",
]

#: Where the work of a caller that names no tenant (the library, the CLI) is queued.
DEFAULT_PARTITION = DEFAULT_TENANT

#: A tenant as the job store holds it (``jobs.tenant`` is 128 characters): printable, no
#: whitespace at either end.
_KEY = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]{0,126}[^\x00-\x20\x7f])?")

R = TypeVar("R")


def partition_key(tenant: str | None) -> str:
    """The partition a tenant's queue entries go to: the tenant itself, or the default
    partition for a call that names none. Raises ``InvalidRequest`` for a tenant the job store
    could not hold (so no entry is ever queued where no worker looks)."""
    if tenant is None or tenant == "":
        return DEFAULT_PARTITION
    if not isinstance(tenant, str) or not _KEY.fullmatch(tenant):
        raise InvalidRequest(
            "a tenant is 1 to 128 printable characters with no space at either end"
        )
    return tenant


def share_of(limit: int, share: float) -> int:
    """One tenant's part of ``limit``: ``share`` of it, rounded down, at least 1."""
    return max(1, min(limit, math.floor(limit * share)))


def job_queue_limits(settings: Settings) -> dict[str, Any]:
    """``register_queue`` arguments for the job queue: a worker's slots, and one tenant's part
    of them (which partitions the queue)."""
    slots = settings.worker_concurrency
    return {
        "worker_concurrency": slots,
        "partition_worker_concurrency": share_of(slots, settings.tenant_job_share),
        "polling_interval_sec": settings.queue_poll_interval,
    }


def provider_queue_limits(settings: Settings, provider: str) -> dict[str, Any]:
    """``register_queue`` arguments for a provider's queue: its concurrency and rate limit, and
    one tenant's part of each (which partitions the queue). A provider without limits has an
    unpartitioned queue: nothing waits there, so there is nothing to share."""
    limits = settings.provider_limits.get(provider, {})
    concurrency = int(limits.get("concurrency") or 0) or None
    per_minute = int(limits.get("per_minute") or 0) or None
    share = settings.tenant_provider_share
    return {
        "global_concurrency": concurrency,
        "limiter": {"limit": per_minute, "period": 60.0} if per_minute else None,
        "partition_concurrency": share_of(concurrency, share) if concurrency else None,
        "partition_limiter": (
            {"limit": share_of(per_minute, share), "period": 60.0} if per_minute else None
        ),
        "polling_interval_sec": settings.queue_poll_interval,
    }


def job_options(job_id: str, tenant: str | None) -> EnqueueOptions:
    """The DBOS queue entry of a job on the job queue (``DBOSClient.enqueue…``)."""
    return {
        "queue_name": JOB_QUEUE,
        "workflow_name": "vidgate.job",
        "workflow_id": job_id,
        "app_version": WORKFLOW_VERSION,
        "queue_partition_key": partition_key(tenant),
    }


async def enqueue_attempt(
    provider: str,
    workflow: Callable[..., Coroutine[Any, Any, R]],
    job_id: str,
    number: int,
    *args: Any,
    tenant: str | None,
) -> WorkflowHandleAsync[R]:
    """Enqueue an attempt (``workflow(job_id, number, *args)``, id ``<job>-<n>``) on its
    provider's queue, in its tenant's partition. Called from the job workflow."""
    with (
        SetWorkflowID(f"{job_id}-{number}"),
        SetEnqueueOptions(queue_partition_key=partition_key(tenant)),
    ):
        return await DBOS.enqueue_workflow_async(
            provider_queue(provider), workflow, job_id, number, *args
        )


def workflow_status(engine: sa.Engine) -> sa.Table:
    """The columns of DBOS's ``workflow_status`` table that vidgate reads and adopts (DBOS keeps
    it in the same database: schema ``dbos`` on PostgreSQL, the same file on SQLite)."""
    schema = "dbos" if engine.dialect.name == "postgresql" else None
    return sa.Table(
        "workflow_status",
        sa.MetaData(schema=schema),
        sa.Column("workflow_uuid", sa.Text, primary_key=True),
        sa.Column("status", sa.Text),
        sa.Column("queue_name", sa.Text),
        sa.Column("queue_partition_key", sa.Text),
        sa.Column("started_at_epoch_ms", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger),
    )


def adopt_legacy(engine: sa.Engine) -> int:
    """Give the default partition key to vidgate's queue entries that have none: entries queued
    (or running, which a recovery would queue again) before the queues were partitioned, which a
    partitioned queue would otherwise never run. Returns how many were adopted."""
    ws = workflow_status(engine)
    with engine.begin() as conn:
        adopted = conn.execute(
            ws.update()
            .where(
                ws.c.queue_partition_key.is_(None),
                ws.c.status.in_(("ENQUEUED", "PENDING")),
                sa.or_(
                    ws.c.queue_name == JOB_QUEUE,
                    ws.c.queue_name.startswith(PROVIDER_QUEUE_PREFIX, autoescape=True),
                ),
            )
            .values(queue_partition_key=DEFAULT_PARTITION)
        )
    return adopted.rowcount
