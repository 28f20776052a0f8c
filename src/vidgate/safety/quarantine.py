"""The quarantine book: outputs the content scan blocked, held apart until an admin acts.

One row per blocked attempt (``quarantine`` table): where its video and thumbnail are held in
storage (under ``quarantine/``, never under the servable ``videos/`` and ``thumbnails/``), what
the scan said, and its state — ``held``, then ``released`` (moved back, servable) or
``deleted`` (the files removed). State changes are guarded on ``held`` in the UPDATE itself,
so two admins acting at once cannot both release, or release what the other deleted.

This module only keeps the book; moving files and the job's row is the engine's
(``engine/quarantine.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from vidgate.db.tables import quarantine
from vidgate.exceptions import OutputQuarantined
from vidgate.types import Job, MediaInfo, OutputScan, new_id

__all__ = [
    "QuarantineItem",
    "Status",
    "get",
    "held_for_job",
    "hold",
    "items",
    "mark",
    "mark_in",
    "refuse_if_held",
]

Status = Literal["held", "released", "deleted"]


class QuarantineItem(BaseModel):
    """One blocked output."""

    id: str
    job_id: str
    tenant: str
    attempt_id: str
    attempt_number: int
    provider: str
    model: str
    status: Status
    video_key: str = Field(description="where the video is held in storage (quarantine/…)")
    thumbnail_key: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    media: MediaInfo | None = None
    scan: OutputScan
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _item(row: Any) -> QuarantineItem:
    values = dict(row._mapping)
    values["created_at"] = _aware(values["created_at"])
    values["resolved_at"] = _aware(values["resolved_at"])
    return QuarantineItem.model_validate(values)


def hold(
    database: sa.Engine,
    *,
    job_id: str,
    tenant: str,
    attempt_id: str,
    attempt_number: int,
    provider: str,
    model: str,
    video_key: str,
    thumbnail_key: str | None,
    size_bytes: int | None,
    sha256: str | None,
    media: dict[str, Any] | None,
    scan: dict[str, Any],
) -> str:
    """Record a held output; returns its id. Idempotent per attempt: a scan step run again
    finds the row it wrote the first time."""
    with database.begin() as conn:
        existing = conn.execute(
            sa.select(quarantine.c.id).where(quarantine.c.attempt_id == attempt_id)
        ).scalar_one_or_none()
        if existing is not None:
            return str(existing)
        item_id = new_id("q")
        conn.execute(
            quarantine.insert().values(
                id=item_id,
                job_id=job_id,
                tenant=tenant,
                attempt_id=attempt_id,
                attempt_number=attempt_number,
                provider=provider,
                model=model,
                status="held",
                video_key=video_key,
                thumbnail_key=thumbnail_key,
                size_bytes=size_bytes,
                sha256=sha256,
                media=media,
                scan={**scan, "quarantine_id": item_id},
                created_at=datetime.now(UTC),
            )
        )
        return item_id


def get(database: sa.Engine, item_id: str) -> QuarantineItem | None:
    with database.connect() as conn:
        row = conn.execute(sa.select(quarantine).where(quarantine.c.id == item_id)).first()
    return _item(row) if row is not None else None


def items(
    database: sa.Engine,
    *,
    status: Status | None = "held",
    tenant: str | None = None,
    job_id: str | None = None,
    limit: int = 100,
) -> list[QuarantineItem]:
    """Items newest first, filtered by state (``None``: all), tenant and job."""
    query = sa.select(quarantine).order_by(quarantine.c.created_at.desc(), quarantine.c.id)
    if status is not None:
        query = query.where(quarantine.c.status == status)
    if tenant is not None:
        query = query.where(quarantine.c.tenant == tenant)
    if job_id is not None:
        query = query.where(quarantine.c.job_id == job_id)
    with database.connect() as conn:
        rows = conn.execute(query.limit(max(1, min(limit, 1000)))).all()
    return [_item(row) for row in rows]


def held_for_job(database: sa.Engine, job_id: str) -> list[QuarantineItem]:
    """The job's outputs still held."""
    return items(database, status="held", job_id=job_id)


def mark(database: sa.Engine, item_id: str, status: Status, by: str) -> bool:
    """Move a held item to ``status``; False when it was no longer held."""
    with database.begin() as conn:
        return mark_in(conn, item_id, status, by)


def mark_in(conn: sa.Connection, item_id: str, status: Status, by: str) -> bool:
    """``mark`` inside the caller's transaction (a release records its workflow with it)."""
    changed = conn.execute(
        quarantine.update()
        .where(quarantine.c.id == item_id, quarantine.c.status == "held")
        .values(status=status, resolved_at=datetime.now(UTC), resolved_by=by)
    ).rowcount
    return bool(changed)


def refuse_if_held(job: Job) -> None:
    """Raise ``OutputQuarantined`` when the job's output was blocked by the content scan and
    not released: nothing of it (video, thumbnail, signed link) may be served."""
    scan = job.scan
    if scan is not None and scan.verdict == "block" and not scan.released:
        raise OutputQuarantined(
            f"the output of video {job.id} was blocked by the content scan "
            f"({', '.join(scan.categories) or 'policy'}) and is held in quarantine",
            details={"job_id": job.id, "categories": scan.categories},
        )
