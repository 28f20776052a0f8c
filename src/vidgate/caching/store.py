"""The ``result_cache`` table: one row per admitted job whose result may be reused, written in
the job's admission transaction. A row counts only while its job is completed, not deleted and
completed within the TTL: a failed, cancelled or deleted job's row is never served (a deleted
video is never handed out again), and nothing has to be written when a job ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc
from ..db import assets, jobs, result_cache, tenants
from ..types import Asset, JobStatus
from .key import CacheKey

__all__ = ["CacheStore", "Entry"]

#: At most this many rows are compared by meaning for one "similar" look-up (newest first).
SIMILAR_CANDIDATES = 200


@dataclass(frozen=True)
class Entry:
    """A reusable result: a completed job's row in the cache."""

    id: int
    job_id: str
    prompt: str
    provider: str | None
    model: str | None
    completed_at: datetime | None
    embedding: bytes | None
    embedding_model: str | None


_INSERT = result_cache.insert()


class CacheStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(
        self,
        conn: sa.Connection,
        *,
        tenant: str,
        user: str,
        key: CacheKey,
        job_id: str,
        now: datetime,
    ) -> None:
        """In the admission transaction, after the job's row: remember its key."""
        conn.execute(
            _INSERT,
            {
                "tenant": tenant,
                "end_user": user,
                "key": key.exact,
                "rest_key": key.rest,
                "job_id": job_id,
                "prompt": key.prompt,
                "created_at": now,
            },
        )

    def _query(self, tenant: str, user: str | None, since: datetime) -> sa.Select[Any]:
        query = (
            sa.select(
                result_cache.c.id,
                result_cache.c.job_id,
                result_cache.c.prompt,
                result_cache.c.embedding,
                result_cache.c.embedding_model,
                jobs.c.provider,
                jobs.c.model,
                jobs.c.completed_at,
            )
            .select_from(result_cache.join(jobs, jobs.c.id == result_cache.c.job_id))
            .where(
                result_cache.c.tenant == tenant,
                jobs.c.tenant == tenant,  # never across tenants, whatever a row says
                jobs.c.status == JobStatus.COMPLETED.value,
                jobs.c.deleted_at.is_(None),
                jobs.c.completed_at >= since,
            )
            .order_by(jobs.c.completed_at.desc(), result_cache.c.id.desc())
        )
        if user is not None:
            query = query.where(result_cache.c.end_user == user)
        return query

    def _entries(self, query: sa.Select[Any]) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Entry(
                id=r.id,
                job_id=r.job_id,
                prompt=r.prompt,
                provider=r.provider,
                model=r.model,
                completed_at=as_utc(r.completed_at),
                embedding=r.embedding,
                embedding_model=r.embedding_model,
            )
            for r in rows
        ]

    def exact(self, tenant: str, user: str | None, key: str, since: datetime) -> list[Entry]:
        """Completed results with this exact key, newest first."""
        query = self._query(tenant, user, since).where(result_cache.c.key == key).limit(20)
        return self._entries(query)

    def near(self, tenant: str, user: str | None, rest_key: str, since: datetime) -> list[Entry]:
        """Completed results whose every parameter but the prompt is equal, newest first."""
        query = (
            self._query(tenant, user, since)
            .where(result_cache.c.rest_key == rest_key)
            .limit(SIMILAR_CANDIDATES)
        )
        return self._entries(query)

    def save_embeddings(self, vectors: dict[int, bytes], model_id: str) -> None:
        """Keep vectors made for rows that had none (made once, on their first comparison)."""
        if not vectors:
            return
        with self.engine.begin() as conn:
            for row_id, raw in vectors.items():
                conn.execute(
                    result_cache.update()
                    .where(result_cache.c.id == row_id)
                    .values(embedding=raw, embedding_model=model_id)
                )

    def assets(self, job_id: str) -> list[Asset]:
        """The stored files of a job (its video and thumbnail)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(assets).where(assets.c.job_id == job_id)).mappings()
            return [Asset.from_row(r) for r in rows]

    def threshold(self, tenant: str) -> float | None:
        """The tenant's own similarity threshold, or None to use the setting."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(tenants.c.cache_similarity).where(tenants.c.name == tenant)
            ).scalar()
        return float(value) if value is not None else None
