"""A job served from the result cache (``vidgate.caching``): created completed, in one
transaction, with its own copies of the earlier job's files, a cost of 0 and no ledger row (it
reserves and spends nothing, so no budget or quota counts it); no workflow ever runs for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .._clock import utcnow
from ..caching import ResultCache
from ..db import assets, job_events, jobs
from ..types import Asset, CacheHit, CostQuote, Job, JobStatus, Phase, PromptHint, VideoRequest
from .store import JobStore, _outbox

__all__ = ["create_cached_job", "describe"]


def describe(hit: CacheHit) -> str:
    """The history line: which job it came from and how it matched."""
    made = f" (made by {hit.provider}:{hit.model})" if hit.provider else ""
    if hit.match == "similar":
        return (
            f"served from the cache: the video of job {hit.job_id}{made}, whose prompt "
            f"{hit.prompt[:200]!r} is {hit.similarity:.3f} similar; nothing generated, $0"
        )
    return f"served from the cache: the video of job {hit.job_id}{made}; nothing generated, $0"


def create_cached_job(
    store: JobStore,
    cache: ResultCache,
    job_id: str,
    request: VideoRequest,
    *,
    tenant: str,
    hit: CacheHit,
    copies: list[Asset],
    guard: Callable[[Any], None] | None,
    hints: list[PromptHint],
) -> tuple[Job, bool]:
    """Create the job, completed, from ``copies`` (made by ``cache.copy``). The tenant's own
    limits (``guard``) still apply; budgets and quotas do not: nothing is reserved or spent."""
    quote = CostQuote(
        provider=hit.provider or "cache",
        model=hit.model or "cache",
        usd=0.0,
        basis=f"cached: the stored video of job {hit.job_id}, nothing generated",
        status="confirmed",
    )

    def complete(conn: sa.Connection) -> None:
        """In the transaction that inserted the job: its files, its end, its history line and
        its ``video.completed`` event. No ledger row: it was never reserved."""
        now = utcnow()
        for asset in copies:
            row = asset.row()
            conn.execute(assets.insert().values(job_id=job_id, created_at=now, **row))
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                status=JobStatus.COMPLETED.value,
                phase=Phase.DONE.value,
                progress=100.0,
                provider=hit.provider,
                model=hit.model,
                cost_usd=0.0,
                cached=hit.model_dump(mode="json"),
                updated_at=now,
                completed_at=now,
            )
        )
        conn.execute(
            job_events.insert().values(
                job_id=job_id, at=now, phase=Phase.DONE.value, progress=100.0, message=describe(hit)
            )
        )
        _outbox(conn, job_id, JobStatus.COMPLETED)

    try:
        job, created = store.create_job(
            job_id,
            request,
            tenant=tenant,
            quote=quote,
            hints=hints,
            guard=guard,
            then=complete,
        )
    except BaseException:
        cache.discard(copies)
        raise
    if not created:  # the idempotency key named an earlier job: that one is the answer
        cache.discard(copies)
        return job, False
    return store.get(job_id), True
