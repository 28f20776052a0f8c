"""What leaves storage, and when: a deleted video's files, expired files (the retention sweep),
and the bytes each tenant keeps (``vidgate storage usage``).

- **An object is deleted with its last live asset row.** A row is marked first
  (``assets.deleted_at``, ``deleted_reason`` ``delete`` | ``retention``), then its key is removed
  from storage unless another live row still names it (a content-addressed object shared by two
  jobs). The row stays, for the records; the job reads its asset as deleted.
- **The sweep** (``sweep``) marks and removes every live asset past its tenant's policy
  (``storage/retention.py``: originals, renditions, counted from the asset's creation), deletes
  quarantined files held past ``quarantine_days`` (the item becomes ``deleted`` by
  ``retention``), and on S3 aborts multipart uploads a dead process left open for a day.
  ``dry_run`` reports the same without changing anything. One process runs it every
  ``VIDGATE_RETENTION_INTERVAL`` seconds (``engine/sweeping.py``: queued by every
  ``vidgate serve``, one workflow per interval); ``vidgate storage sweep`` on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc, utcnow
from ..db.tables import assets, jobs, quarantine, tenants
from ..exceptions import VidgateError
from ..storage.retention import RetentionPolicy, policy_class
from .runtime import Runtime

__all__ = ["SweepReport", "UsageRow", "delete_job_files", "remove_unreferenced", "sweep", "usage"]

log = logging.getLogger("vidgate.retention")

#: A multipart upload open this long was left by a process that died mid-upload.
STALE_UPLOAD = timedelta(days=1)


@dataclass
class SweepReport:
    """What a sweep removed (or, dry, would remove)."""

    dry_run: bool
    assets: list[dict[str, Any]] = field(default_factory=list)  # job, tenant, kind, key, bytes
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # item id, tenant, keys
    objects_deleted: int = 0
    objects_kept_shared: int = 0
    bytes_freed: int = 0
    stale_uploads_aborted: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "assets": self.assets,
            "quarantined": self.quarantined,
            "objects_deleted": self.objects_deleted,
            "objects_kept_shared": self.objects_kept_shared,
            "bytes_freed": self.bytes_freed,
            "stale_uploads_aborted": self.stale_uploads_aborted,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class UsageRow:
    tenant: str
    kind: str  # an asset kind, or "quarantine"
    objects: int
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "kind": self.kind,
            "objects": self.objects,
            "bytes": self.bytes,
        }


def remove_unreferenced(rt: Runtime, keys: Iterable[str]) -> tuple[list[str], int]:
    """Delete each key from storage unless a live asset row still names it; (the keys
    deleted, how many were kept because they are shared)."""
    deleted: list[str] = []
    kept = 0
    for key in dict.fromkeys(keys):
        with rt.store.engine.connect() as conn:
            live = conn.execute(
                sa.select(sa.func.count())
                .select_from(assets)
                .where(assets.c.key == key, assets.c.deleted_at.is_(None))
            ).scalar_one()
        if live:
            kept += 1
            continue
        rt.storage.delete(key)
        deleted.append(key)
    return deleted, kept


def asset_keys(key: str, media: Any) -> list[str]:
    """Every stored key of an asset row: its own, and a delivered variant's other files (an
    HLS set's playlists and segments, kept in ``media.rendition.keys``)."""
    facts = media.get("rendition") if isinstance(media, dict) else None
    extra = facts.get("keys") if isinstance(facts, dict) else None
    return [key, *(k for k in (extra or ()) if isinstance(k, str) and k != key)]


def _mark(conn: sa.Connection, ids: list[str], reason: str, now: datetime) -> list[str]:
    """Mark the live rows among ``ids`` deleted; their keys."""
    if not ids:
        return []
    rows = conn.execute(
        sa.select(assets.c.id, assets.c.key, assets.c.media).where(
            assets.c.id.in_(ids), assets.c.deleted_at.is_(None)
        )
    ).all()
    conn.execute(
        assets.update()
        .where(assets.c.id.in_([r.id for r in rows]))
        .values(deleted_at=now, deleted_reason=reason)
    )
    return [k for r in rows for k in asset_keys(r.key, r.media)]


def delete_job_files(rt: Runtime, job_id: str) -> int:
    """Remove every stored file of a job being deleted: its assets (unless shared) and its held
    quarantine files. How many objects were deleted. Raises ``StorageError`` when storage
    fails; calling it again finishes the work."""
    now = utcnow()
    with rt.store.engine.begin() as conn:
        rows = conn.execute(
            sa.select(assets.c.id, assets.c.key, assets.c.media).where(assets.c.job_id == job_id)
        ).all()
        _mark(conn, [r.id for r in rows], "delete", now)
        # Every key of the job, marked now or by an earlier try whose storage call failed: a
        # DELETE that is tried again removes what the first one could not.
        keys = [k for r in rows for k in asset_keys(r.key, r.media)]
        # Held items become deleted; deleted ones are removed again (idempotent), in case an
        # earlier try stopped half way. Released items' files were moved to servable keys.
        held = conn.execute(
            sa.select(quarantine.c.id, quarantine.c.video_key, quarantine.c.thumbnail_key).where(
                quarantine.c.job_id == job_id, quarantine.c.status.in_(("held", "deleted"))
            )
        ).all()
        conn.execute(
            quarantine.update()
            .where(quarantine.c.job_id == job_id, quarantine.c.status == "held")
            .values(status="deleted", resolved_at=now, resolved_by="video deleted")
        )
    deleted = len(remove_unreferenced(rt, keys)[0])
    for item in held:
        for key in (item.video_key, item.thumbnail_key):
            if key:
                rt.storage.delete(key)
                deleted += 1
    return deleted


def policies(rt: Runtime) -> tuple[RetentionPolicy, dict[str, RetentionPolicy]]:
    default = RetentionPolicy.default(rt.settings)
    own: dict[str, RetentionPolicy] = {}
    with rt.store.engine.connect() as conn:
        for name, value in conn.execute(
            sa.select(tenants.c.name, tenants.c.retention).where(tenants.c.retention.is_not(None))
        ):
            try:
                own[name] = default.over(value)
            except ValueError as exc:  # a hand-edited row: the operator's default applies
                log.warning("tenant %s has an invalid retention policy (%s)", name, exc)
    return default, own


def sweep(rt: Runtime, *, now: datetime | None = None, dry_run: bool = False) -> SweepReport:
    """Apply every tenant's retention policy once (see the module docstring)."""
    now = now or utcnow()
    report = SweepReport(dry_run=dry_run)
    default, own = policies(rt)
    every = [default, *own.values()]
    # Only rows older than the shortest period any policy has can have expired: the rest are
    # never read (and with no period at all, nothing is).
    asset_days = [d for p in every for d in (p.originals_days, p.renditions_days) if d is not None]
    held_days = [p.quarantine_days for p in every if p.quarantine_days is not None]
    rows: list[Any] = []
    held: list[Any] = []
    with rt.store.engine.connect() as conn:
        if asset_days:
            rows = list(
                conn.execute(
                    sa.select(
                        assets.c.id,
                        assets.c.job_id,
                        assets.c.kind,
                        assets.c.key,
                        assets.c.size_bytes,
                        assets.c.created_at,
                        jobs.c.tenant,
                    )
                    .join(jobs, jobs.c.id == assets.c.job_id)
                    .where(
                        assets.c.deleted_at.is_(None),
                        assets.c.created_at <= now - timedelta(days=min(asset_days)),
                    )
                )
            )
        if held_days:
            held = list(
                conn.execute(
                    sa.select(quarantine).where(
                        quarantine.c.status == "held",
                        quarantine.c.created_at <= now - timedelta(days=min(held_days)),
                    )
                ).mappings()
            )
    expired = [
        r
        for r in rows
        if own.get(r.tenant, default).expired(r.kind, as_utc(r.created_at) or now, now)
    ]
    report.assets = [
        {
            "job_id": r.job_id,
            "tenant": r.tenant,
            "kind": r.kind,
            "class": policy_class(r.kind),
            "key": r.key,
            "bytes": r.size_bytes,
        }
        for r in expired
    ]
    stale = [
        h
        for h in held
        if own.get(h["tenant"], default).expired("quarantine", as_utc(h["created_at"]) or now, now)
    ]
    report.quarantined = [
        {
            "id": h["id"],
            "job_id": h["job_id"],
            "tenant": h["tenant"],
            "keys": [k for k in (h["video_key"], h["thumbnail_key"]) if k],
            "bytes": h["size_bytes"] or 0,
        }
        for h in stale
    ]
    if dry_run:
        report.bytes_freed = sum(a["bytes"] for a in report.assets) + sum(
            q["bytes"] for q in report.quarantined
        )
        return report
    with rt.store.engine.begin() as conn:
        keys = _mark(conn, [r.id for r in expired], "retention", now)
    sizes = {r.key: r.size_bytes for r in expired}
    try:
        gone, kept = remove_unreferenced(rt, keys)
        report.objects_deleted += len(gone)
        report.objects_kept_shared += kept
        report.bytes_freed += sum(sizes.get(k, 0) for k in gone)
    except VidgateError as exc:
        report.errors.append(exc.message)
    for item in stale:
        with rt.store.engine.begin() as conn:
            changed = conn.execute(
                quarantine.update()
                .where(quarantine.c.id == item["id"], quarantine.c.status == "held")
                .values(status="deleted", resolved_at=now, resolved_by="retention")
            ).rowcount
        if not changed:
            continue  # an admin resolved it meanwhile
        try:
            for key in (item["video_key"], item["thumbnail_key"]):
                if key:
                    rt.storage.delete(key)
                    report.objects_deleted += 1
            report.bytes_freed += item["size_bytes"] or 0
        except VidgateError as exc:
            report.errors.append(exc.message)
    abort = getattr(rt.storage, "abort_stale_uploads", None)
    if abort is not None:
        try:
            report.stale_uploads_aborted = int(abort(STALE_UPLOAD))
        except VidgateError as exc:
            report.errors.append(exc.message)
    return report


def usage(rt: Runtime) -> list[UsageRow]:
    """Bytes and objects each tenant keeps in storage, by asset kind (quarantine apart)."""
    with rt.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                jobs.c.tenant,
                assets.c.kind,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(assets.c.size_bytes), 0),
            )
            .join(jobs, jobs.c.id == assets.c.job_id)
            .where(assets.c.deleted_at.is_(None))
            .group_by(jobs.c.tenant, assets.c.kind)
        ).all()
        held = conn.execute(
            sa.select(
                quarantine.c.tenant,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(quarantine.c.size_bytes), 0),
            )
            .where(quarantine.c.status == "held")
            .group_by(quarantine.c.tenant)
        ).all()
    found = [UsageRow(t, k, int(n), int(b)) for t, k, n, b in rows]
    found += [UsageRow(t, "quarantine", int(n), int(b)) for t, n, b in held]
    return sorted(found, key=lambda r: (r.tenant, r.kind))


def set_policy(rt: Runtime, tenant: str, policy: dict[str, Any] | None) -> RetentionPolicy:
    """Store a tenant's own policy (None: back to the operator's default); the policy that now
    applies to it. Raises ``ValueError`` for a bad policy, ``KeyError`` for no such tenant."""
    checked = RetentionPolicy.parse(policy) if policy is not None else None
    with rt.store.engine.begin() as conn:
        changed = conn.execute(
            tenants.update().where(tenants.c.name == tenant).values(retention=checked)
        ).rowcount
    if not changed:
        raise KeyError(tenant)
    return RetentionPolicy.default(rt.settings).over(checked)
