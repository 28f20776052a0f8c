"""Finding jobs: a page of the jobs that match a filter (status, provider, end user, creation
time, words of the prompt), newest first, after a cursor; and the newest change among them.

The list route (``GET /v1/videos``) and the dashboard's live list read jobs through here. Text
search is a case-insensitive substring match on the prompt (``LIKE``, with its wildcards
escaped), which needs no index of its own at the scale of a tenant's recent jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..db.tables import jobs
from ..exceptions import InvalidRequest, JobNotFound
from ..types import JobStatus

__all__ = ["JobFilter", "latest_change", "search"]

_MAX_TEXT = 200


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: ``tenant`` None means every tenant (an admin's view)."""

    tenant: str | None
    status: JobStatus | None = None
    provider: str | None = None
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.text is not None and len(self.text) > _MAX_TEXT:
            raise InvalidRequest(f"a search is at most {_MAX_TEXT} characters")
        for name in ("provider", "user"):
            value = getattr(self, name)
            if value is not None and len(value) > 255:
                raise InvalidRequest(f"{name} is at most 255 characters")
        if self.since and self.until and self.since > self.until:
            raise InvalidRequest("since must not be after until")

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = [jobs.c.deleted_at.is_(None)]
        if self.tenant is not None:
            where.append(jobs.c.tenant == self.tenant)
        if self.status is not None:
            where.append(jobs.c.status == self.status.value)
        if self.provider:
            where.append(jobs.c.provider == self.provider)
        if self.user:
            where.append(jobs.c.request["user"].as_string() == self.user)
        if self.since is not None:
            where.append(jobs.c.created_at >= self.since)
        if self.until is not None:
            where.append(jobs.c.created_at < self.until)
        if self.text and self.text.strip():
            pattern = "%" + _escape(self.text.strip().lower()) + "%"
            prompt = sa.func.lower(jobs.c.request["prompt"].as_string())
            where.append(prompt.like(pattern, escape="\\"))
        return where


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(
    engine: sa.Engine,
    where: JobFilter,
    *,
    after: str | None = None,
    limit: int = 50,
    newest_first: bool = True,
) -> tuple[list[str], bool]:
    """Ids of the matching jobs by creation time (newest first unless told), after the job
    ``after``; and whether more follow. ``JobNotFound`` for a cursor outside the tenant."""
    key = (jobs.c.created_at, jobs.c.id)
    query = sa.select(jobs.c.id).where(*where.clauses())
    with engine.connect() as conn:
        if after is not None:
            cursor_query = sa.select(jobs.c.created_at, jobs.c.id).where(jobs.c.id == after)
            if where.tenant is not None:
                cursor_query = cursor_query.where(jobs.c.tenant == where.tenant)
            cursor = conn.execute(cursor_query).first()
            if cursor is None:
                raise JobNotFound(after)
            bound = sa.tuple_(*key)
            query = query.where(
                bound < sa.tuple_(*cursor) if newest_first else bound > sa.tuple_(*cursor)
            )
        ordering = [c.desc() if newest_first else c.asc() for c in key]
        rows = conn.execute(query.order_by(*ordering).limit(limit + 1))
        ids = [r.id for r in rows]
    return ids[:limit], len(ids) > limit


def latest_change(engine: sa.Engine, where: JobFilter) -> tuple[datetime | None, int]:
    """The newest ``updated_at`` among the matching jobs and how many match: a live list
    redraws when either moves."""
    query = sa.select(sa.func.max(jobs.c.updated_at), sa.func.count()).where(*where.clauses())
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return row[0], int(row[1])
