"""The job store: vidgate's own record of jobs, attempts, assets, events and provider calls.

DBOS owns workflow execution; this store owns what users see. Every write here is idempotent
(keyed by job id, attempt number or asset kind), because steps may run again after a crash.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc as _aware
from .._clock import utcnow as _now
from ..accounting import close_job, true_up
from ..db import assets, attempts, job_events, jobs, request_log, tenants, webhook_deliveries
from ..exceptions import IdempotencyConflict, JobNotFound
from ..requestlog import CallRecord
from ..types import (
    Asset,
    Attempt,
    AttemptStatus,
    CacheHit,
    CostQuote,
    Job,
    JobError,
    JobEvent,
    JobStatus,
    ModerationMark,
    OutputScan,
    Phase,
    PromptHint,
    RequestLogEntry,
    SentPrompt,
    VideoRequest,
    asset_order,
    new_id,
)

__all__ = ["JobStore", "request_hash"]

DEFAULT_TENANT = "default"


def _outbox(conn: sa.Connection, job_id: str, status: JobStatus) -> None:
    """In the transaction that changes a job's status: queue a signed webhook for the client,
    if the request or its tenant named a URL (a transactional outbox: the event is written if and
    only if the change is)."""
    row = conn.execute(
        sa.select(jobs.c.tenant, jobs.c.request, jobs.c.progress, jobs.c.error).where(
            jobs.c.id == job_id
        )
    ).first()
    if row is None:
        return
    url = (row.request or {}).get("webhook_url")
    if not url:
        url = _tenant_webhook(conn, row.tenant)
    _queue_webhook(conn, url, row.tenant, job_id, status, row.progress, row.error)


class _Unread(enum.Enum):
    """Marks an argument the caller did not read (so the store reads it)."""

    UNREAD = "unread"


_UNREAD = _Unread.UNREAD


def _tenant_webhook(conn: sa.Connection, tenant: str) -> str | None:
    url = conn.execute(_TENANT_WEBHOOK, {"tenant": tenant}).scalar()
    return str(url) if url else None


# Statements the hot paths run, built once: SQLAlchemy then finds their compiled form at once
# instead of building and fingerprinting a new statement per call.
_TENANT_WEBHOOK = sa.select(tenants.c.webhook_url).where(tenants.c.name == sa.bindparam("tenant"))
_INSERT_JOB = jobs.insert()
_INSERT_EVENT = job_events.insert()


def _queue_webhook(
    conn: sa.Connection,
    url: str | None,
    tenant: str,
    job_id: str,
    status: JobStatus,
    progress: float,
    error: Any,
) -> None:
    if not url:
        return
    now = _now()
    event = f"video.{status.value}"
    message_id = new_id("msg")
    conn.execute(
        webhook_deliveries.insert().values(
            id=message_id,
            tenant=tenant,
            job_id=job_id,
            event=event,
            url=url,
            payload={
                "type": event,
                "timestamp": now.isoformat(),
                "data": {
                    "id": job_id,
                    "object": "video",
                    "status": status.value,
                    "progress": round(progress),
                    "error": error,
                },
            },
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def _columns(table: sa.Table, start: int) -> list[tuple[sa.Column[Any], int]]:
    return [(column, start + i) for i, column in enumerate(table.c)]


_JOB_COLUMNS = _columns(jobs, 0)
_ATTEMPT_COLUMNS = _columns(attempts, len(jobs.c))
_ASSET_COLUMNS = _columns(assets, len(jobs.c) + len(attempts.c))
#: A job, each of its attempts and each of its assets in one query (attempts in order).
_JOB_WITH_PARTS = (
    sa.select(
        *jobs.c,
        *(c.label(f"a_{c.name}") for c in attempts.c),
        *(c.label(f"s_{c.name}") for c in assets.c),
    )
    .select_from(
        jobs.outerjoin(attempts, attempts.c.job_id == jobs.c.id).outerjoin(
            assets, assets.c.job_id == jobs.c.id
        )
    )
    .where(jobs.c.deleted_at.is_(None), jobs.c.id == sa.bindparam("job_id"))
    .order_by(attempts.c.number)
)
_JOB = _JOB_WITH_PARTS
_JOB_OF_TENANT = _JOB_WITH_PARTS.where(jobs.c.tenant == sa.bindparam("tenant"))


# A job row still open to change: every write that moves a job says so in its WHERE, so a
# write that raced a cancel (PostgreSQL re-checks the WHERE once the row lock is free) is void.
_LIVE = jobs.c.status.notin_([s.value for s in JobStatus if s.terminal])


def _forward(progress: float) -> sa.ColumnElement[float]:
    """Progress never goes back, not even when a job falls back to another provider."""
    return sa.case((jobs.c.progress > progress, jobs.c.progress), else_=sa.literal(progress))


def request_hash(request: VideoRequest) -> str:
    """A fingerprint of what was asked, for idempotency: the same key must mean the same body."""
    body = request.model_dump(mode="json", exclude={"idempotency_key"})
    if body.get("user") is None:
        body.pop("user", None)  # fingerprints made before the field existed stay the same
    if body.get("cache") is True:
        body.pop("cache", None)  # likewise for the default of the cache field
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class JobStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in
        # steps of 1 to 100 ms before it tries again. Admissions from this process queue on a
        # lock instead and go the moment the one before commits (other processes still wait
        # on SQLite's own lock).
        self._admissions: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    # -- jobs ------------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        request: VideoRequest,
        *,
        tenant: str = DEFAULT_TENANT,
        quote: CostQuote | None = None,
        guard: Callable[[sa.Connection], None] | None = None,
        then: Callable[[sa.Connection], None] | None = None,
        hints: list[PromptHint] | None = None,
        note: str | None = None,
        moderation: ModerationMark | None = None,
        routing: dict[str, Any] | None = None,
        not_before: datetime | None = None,
        tenant_webhook: str | _Unread | None = _UNREAD,
    ) -> tuple[Job, bool]:
        """Insert a queued job. Returns ``(job, created)``: with an idempotency key already used
        for the same request, the existing job and ``False`` (a different request with that key
        is an ``IdempotencyConflict``). ``guard`` runs inside the inserting transaction, before
        the insert, to enforce the tenant's limits atomically; ``then`` runs in it after the
        insert (the DBOS enqueue: one commit for the whole admission). ``note`` is added to
        the first history line (a default admission picked, such as the duration).
        ``routing`` is admission's ranking of the candidates; a job with ``not_before`` is
        held in phase ``scheduled`` until then (``engine.batches`` releases it).
        ``tenant_webhook`` is the tenant's webhook URL when the caller has read it already."""
        digest = request_hash(request)
        if request.idempotency_key is not None:
            existing = self._same_key(tenant, request.idempotency_key, digest)
            if existing is not None:
                return existing, False
        now = _now()
        row = {
            "id": job_id,
            "tenant": tenant,
            "status": JobStatus.QUEUED.value,
            "phase": (Phase.SCHEDULED if not_before else Phase.QUEUED).value,
            "progress": 0.0,
            "request": request.model_dump(mode="json"),
            "routing": routing,
            "not_before": not_before,
            "request_hash": digest,
            "idempotency_key": request.idempotency_key,
            "provider": quote.provider if quote else None,
            "model": quote.model if quote else None,
            "quote": quote.model_dump(mode="json") if quote else None,
            "hints": [h.model_dump(mode="json") for h in hints] if hints else None,
            "moderation": moderation.model_dump(mode="json") if moderation else None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._admissions, self.engine.begin() as conn:
                # Read before anything is written (on SQLite: before the write lock is taken),
                # so the transaction below only writes.
                if isinstance(tenant_webhook, _Unread):
                    tenant_webhook = _tenant_webhook(conn, tenant)
                webhook = request.webhook_url or tenant_webhook
                if guard is not None:
                    guard(conn)
                conn.execute(_INSERT_JOB, row)
                conn.execute(
                    _INSERT_EVENT,
                    {
                        "job_id": job_id,
                        "at": now,
                        "phase": row["phase"],
                        "progress": 0.0,
                        "message": f"job created; {note}" if note else "job created",
                    },
                )
                _queue_webhook(conn, webhook, tenant, job_id, JobStatus.QUEUED, 0.0, None)
                if then is not None:
                    then(conn)
        except sa.exc.IntegrityError:
            # Another request with the same key won the race to insert.
            if request.idempotency_key is None:
                raise
            existing = self._same_key(tenant, request.idempotency_key, digest)
            if existing is None:
                raise
            return existing, False
        # Just inserted, so nothing else is on it yet: no need to read it back.
        fresh = {**row, "cost_usd": None, "error": None, "completed_at": None}
        return self._job(fresh, [], {}), True

    def _same_key(self, tenant: str, key: str, digest: str) -> Job | None:
        found = self.find_by_idempotency_key(tenant, key)
        if found is None:
            return None
        job, existing_hash = found
        if existing_hash != digest:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for a different request (job {job.id})",
                details={"job_id": job.id},
            )
        return job

    def find_by_idempotency_key(self, tenant: str, key: str) -> tuple[Job, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(jobs.c.id, jobs.c.request_hash).where(
                    jobs.c.tenant == tenant, jobs.c.idempotency_key == key
                )
            ).first()
        if row is None:
            return None
        return self.get(row.id), row.request_hash

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """The job with its attempts and assets, read in one query (the job's row joined to
        each attempt and asset: a job has few of either)."""
        query = _JOB_OF_TENANT if tenant is not None else _JOB
        with self.engine.connect() as conn:
            rows = conn.execute(query, {"job_id": job_id, "tenant": tenant}).all()
        if not rows:
            raise JobNotFound(job_id)
        attempt_rows: dict[str, dict[str, Any]] = {}
        asset_rows: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.a_id is not None and row.a_id not in attempt_rows:
                attempt_rows[row.a_id] = {c.name: row[i] for c, i in _ATTEMPT_COLUMNS}
            if row.s_id is not None and row.s_kind not in asset_rows:
                asset_rows[row.s_kind] = {c.name: row[i] for c, i in _ASSET_COLUMNS}
        first = {c.name: rows[0][i] for c, i in _JOB_COLUMNS}
        return self._job(first, list(attempt_rows.values()), asset_rows)

    def list_jobs(
        self, *, tenant: str | None = None, status: JobStatus | None = None, limit: int = 50
    ) -> list[Job]:
        query = (
            sa.select(jobs.c.id)
            .where(jobs.c.deleted_at.is_(None))
            .order_by(jobs.c.created_at.desc())
            .limit(limit)
        )
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        with self.engine.connect() as conn:
            ids = [r.id for r in conn.execute(query)]
        return [self.get(i) for i in ids]

    def page(
        self, *, tenant: str, after: str | None, limit: int, order: str = "desc"
    ) -> tuple[list[Job], bool]:
        """A page of a tenant's jobs, by creation time, after the job ``after`` (a cursor)."""
        newest_first = order == "desc"
        key = (jobs.c.created_at, jobs.c.id)
        query = sa.select(jobs.c.id).where(jobs.c.tenant == tenant, jobs.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            if after is not None:
                cursor = conn.execute(
                    sa.select(jobs.c.created_at, jobs.c.id).where(
                        jobs.c.id == after, jobs.c.tenant == tenant
                    )
                ).first()
                if cursor is None:
                    raise JobNotFound(after)
                bound = sa.tuple_(*key)
                query = query.where(
                    bound < sa.tuple_(*cursor) if newest_first else bound > sa.tuple_(*cursor)
                )
            ordering = [c.desc() if newest_first else c.asc() for c in key]
            ids = [r.id for r in conn.execute(query.order_by(*ordering).limit(limit + 1))]
        return [self.get(i) for i in ids[:limit]], len(ids) > limit

    def mark_deleted(self, job_id: str) -> None:
        self.update_job(job_id, deleted_at=_now())

    def update_job(self, job_id: str, *, notify: JobStatus | None = None, **values: Any) -> None:
        """Set columns of a job. With ``notify``, the client's webhook for that status is
        queued in the same transaction (an admin action that changes a job's outcome)."""
        values["updated_at"] = _now()
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))
            if notify is not None:
                _outbox(conn, job_id, notify)

    def set_phase(
        self,
        job_id: str,
        phase: Phase,
        progress: float,
        message: str,
        **values: Any,
    ) -> None:
        """Move a job to ``phase`` and record the change in its history."""
        values.setdefault("status", JobStatus.IN_PROGRESS.value)
        with self.engine.begin() as conn:
            before = conn.execute(
                sa.select(jobs.c.status).where(jobs.c.id == job_id).with_for_update()
            ).scalar()
            now = _now()  # stamped under the job's row lock: history times follow commit order
            moved = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, _LIVE)
                .values(phase=phase.value, progress=_forward(progress), updated_at=now, **values)
            ).rowcount
            if not moved:
                return  # a cancelled job's workflow may still be winding down: leave it be
            conn.execute(
                job_events.insert().values(
                    job_id=job_id, at=now, phase=phase.value, progress=progress, message=message
                )
            )
            if before != values["status"]:
                _outbox(conn, job_id, JobStatus(values["status"]))

    def add_event(self, job_id: str, phase: Phase, progress: float, message: str) -> None:
        """A line in the job's history that does not move it (a retry, a skipped provider).
        Once the job has finished, a late line (a cancelled provider task) is filed under
        ``done``: the history never steps back to an earlier phase."""
        with self.engine.begin() as conn:
            status = conn.execute(
                sa.select(jobs.c.status).where(jobs.c.id == job_id).with_for_update()
            ).scalar()
            if status is not None and JobStatus(status).terminal:
                phase = Phase.DONE
            conn.execute(
                job_events.insert().values(
                    job_id=job_id, at=_now(), phase=phase.value, progress=progress, message=message
                )
            )

    def note_skip(self, job_id: str, ref: str, reason: str) -> None:
        """Record that candidate ``ref`` was passed over, and why, in the routing decision."""
        with self.engine.begin() as conn:
            routing = conn.execute(sa.select(jobs.c.routing).where(jobs.c.id == job_id)).scalar()
            routing = dict(routing or {})
            skipped = dict(routing.get("skipped") or {})
            skipped[ref] = reason
            routing["skipped"] = skipped
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(routing=routing))
            conn.execute(
                job_events.insert().values(
                    job_id=job_id,
                    at=_now(),
                    phase=Phase.ROUTING.value,
                    progress=0.0,
                    message=f"skipped {ref}: {reason}",
                )
            )

    def tenant_deadline(self, tenant: str) -> float | None:
        """The tenant's default job deadline in seconds (``vidgate tenants set --deadline``)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(tenants.c.default_deadline).where(tenants.c.name == tenant)
            ).scalar()
        return float(value) if value else None

    def uncertain_submit_policy(self, tenant: str) -> str | None:
        """The tenant's own ``uncertain_submit`` policy (``fallback`` | ``fail``), or None to
        use ``VIDGATE_UNCERTAIN_SUBMIT``. The gateway's ``TenantBook`` writes it."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(tenants.c.uncertain_submit).where(tenants.c.name == tenant)
            ).scalar()
        return str(value) if value else None

    def delivery_profile(self, tenant: str) -> str | None:
        """The tenant's own delivery profile (JSON text), or None to use the operator's."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(tenants.c.delivery_profile).where(tenants.c.name == tenant)
            ).scalar()
        return str(value) if value else None

    def charged(self, job_id: str) -> float | None:
        """What the job's attempts cost: the sum of the attempts that were charged."""
        with self.engine.connect() as conn:
            costs = [
                c
                for (c,) in conn.execute(
                    sa.select(attempts.c.cost_usd).where(attempts.c.job_id == job_id)
                )
                if c is not None
            ]
        return round(sum(costs), 4) if costs else None

    def set_progress(self, job_id: str, phase: Phase, progress: float, message: str) -> None:
        """Update progress; a history line is written each time it crosses a 10 % mark."""
        with self.engine.begin() as conn:
            before, status = conn.execute(
                sa.select(jobs.c.progress, jobs.c.status)
                .where(jobs.c.id == job_id)
                .with_for_update()
            ).one()
            now = _now()
            if JobStatus(status).terminal:
                return  # a cancelled job's poll may still report: its phase stays done
            moved = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, _LIVE)
                .values(phase=phase.value, progress=_forward(progress), updated_at=now)
            ).rowcount
            if not moved:
                return  # finished between the read and the write (a cancel from elsewhere)
            if int(progress // 10) > int(before // 10):
                conn.execute(
                    job_events.insert().values(
                        job_id=job_id, at=now, phase=phase.value, progress=progress, message=message
                    )
                )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        message: str,
        *,
        error: JobError | None = None,
        **values: Any,
    ) -> None:
        progress = 100.0 if status is JobStatus.COMPLETED else None
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(jobs.c.progress, jobs.c.status)
                .where(jobs.c.id == job_id)
                .with_for_update()
            ).one()
            now = _now()
            if JobStatus(current.status).terminal:
                return  # already finished (a re-run step, or a cancel that raced it)
            final_progress = progress if progress is not None else current.progress
            won = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, _LIVE)
                .values(
                    status=status.value,
                    phase=Phase.DONE.value,
                    progress=final_progress,
                    error=error.model_dump(mode="json") if error else None,
                    updated_at=now,
                    completed_at=now,
                    **values,
                )
            ).rowcount
            if not won:
                return  # another process finished it between the read and the write
            conn.execute(
                job_events.insert().values(
                    job_id=job_id,
                    at=now,
                    phase=Phase.DONE.value,
                    progress=final_progress,
                    message=message,
                )
            )
            # The ledger closes with the job: settled to what its attempts cost, or released.
            close_job(conn, job_id, now)
            _outbox(conn, job_id, status)

    # -- attempts --------------------------------------------------------------------------

    def ensure_attempt(self, job_id: str, number: int, provider: str, model: str) -> Attempt:
        """The attempt row for ``(job_id, number)``, created as a submit intent if missing."""
        attempt_id = f"{job_id}-{number}"
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(attempts.c.id).where(attempts.c.id == attempt_id)
            ).first()
            if exists is None:
                conn.execute(
                    attempts.insert().values(
                        id=attempt_id,
                        job_id=job_id,
                        number=number,
                        provider=provider,
                        model=model,
                        reference=attempt_id,
                        status=AttemptStatus.SUBMITTING.value,
                    )
                )
        return self.attempt(attempt_id)

    def attempt(self, attempt_id: str) -> Attempt:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(attempts).where(attempts.c.id == attempt_id)).mappings()
            found = row.first()
        if found is None:
            raise JobNotFound(attempt_id)
        return self._attempt(found)

    def attempt_by_remote_id(self, provider: str, remote_id: str) -> tuple[str, str] | None:
        """``(job_id, attempt_id)`` of the attempt that created a provider's task."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(attempts.c.job_id, attempts.c.id).where(
                    attempts.c.provider == provider, attempts.c.remote_id == remote_id
                )
            ).first()
        return (row.job_id, row.id) if row is not None else None

    def update_attempt(self, attempt_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(attempts.update().where(attempts.c.id == attempt_id).values(**values))

    def settle_late_charge(self, attempt_id: str, job_id: str, **values: Any) -> float:
        """Write an attempt's final charge learned after the fact, the job's total, and — when
        the job's ledger is closed already — the ``adjustment`` for the difference, in one
        transaction. Returns the adjustment written (0.0 when none was needed)."""
        with self.engine.begin() as conn:
            conn.execute(attempts.update().where(attempts.c.id == attempt_id).values(**values))
            costs = [
                c
                for (c,) in conn.execute(
                    sa.select(attempts.c.cost_usd).where(attempts.c.job_id == job_id)
                )
                if c is not None
            ]
            total = round(sum(costs), 4) if costs else None
            conn.execute(
                jobs.update().where(jobs.c.id == job_id).values(cost_usd=total, updated_at=_now())
            )
            return true_up(conn, job_id)

    # -- assets ----------------------------------------------------------------------------

    def put_asset(self, job_id: str, asset: Asset) -> None:
        """Write (or replace) the job's asset of ``asset.kind``."""
        row = asset.row()
        with self.engine.begin() as conn:
            conn.execute(
                assets.delete().where(assets.c.job_id == job_id, assets.c.kind == asset.kind)
            )
            conn.execute(assets.insert().values(job_id=job_id, created_at=_now(), **row))

    # -- history ---------------------------------------------------------------------------

    def events(self, job_id: str) -> list[JobEvent]:
        """The job's history in the order it was written (insertion id: one database's order,
        which clocks on several hosts cannot disturb)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
            ).mappings()
            return [
                JobEvent(
                    at=_aware(r["at"]) or _now(),
                    phase=Phase(r["phase"]),
                    progress=r["progress"],
                    message=r["message"],
                )
                for r in rows
            ]

    def record_call(self, call: CallRecord) -> None:
        """The request-log sink (see ``vidgate.requestlog``)."""
        with self.engine.begin() as conn:
            conn.execute(
                request_log.insert().values(
                    job_id=call.job_id,
                    attempt_id=call.attempt_id,
                    at=call.at,
                    provider=call.provider,
                    method=call.method,
                    url=call.url,
                    status_code=call.status_code,
                    latency_ms=call.latency_ms,
                    request_id=call.request_id,
                    error=call.error,
                )
            )

    def calls(self, job_id: str) -> list[RequestLogEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(request_log)
                .where(request_log.c.job_id == job_id)
                .order_by(request_log.c.id)
            ).mappings()
            return [
                RequestLogEntry(
                    at=_aware(r["at"]) or _now(),
                    provider=r["provider"],
                    method=r["method"],
                    url=r["url"],
                    status_code=r["status_code"],
                    latency_ms=r["latency_ms"],
                    request_id=r["request_id"],
                    error=r["error"],
                )
                for r in rows
            ]

    # -- row mapping -----------------------------------------------------------------------

    @staticmethod
    def _attempt(row: Any) -> Attempt:
        return Attempt(
            id=row["id"],
            number=row["number"],
            provider=row["provider"],
            model=row["model"],
            reference=row["reference"],
            remote_id=row["remote_id"],
            status=AttemptStatus(row["status"]),
            outcome=row["outcome"],
            error=JobError.model_validate(row["error"]) if row["error"] else None,
            progress=row["progress"],
            cost_usd=row["cost_usd"],
            cost_basis=row["cost_basis"],
            possible_orphan=bool(row["possible_orphan"]),
            orphan_cost_usd=row["orphan_cost_usd"],
            prompt_sent=SentPrompt.model_validate(row["prompt_sent"])
            if row.get("prompt_sent")
            else None,
            submitted_at=_aware(row["submitted_at"]),
            finished_at=_aware(row["finished_at"]),
        )

    def _job(self, row: Any, attempt_rows: list[Any], asset_rows: dict[str, Any]) -> Job:
        def asset(kind: str) -> Asset | None:
            found = asset_rows.get(kind)
            return None if found is None else Asset.from_row(found)

        return Job(
            id=row["id"],
            tenant=row["tenant"],
            status=JobStatus(row["status"]),
            phase=Phase(row["phase"]),
            progress=row["progress"],
            request=VideoRequest.model_validate(row["request"]),
            provider=row["provider"],
            model=row["model"],
            attempts=[self._attempt(a) for a in attempt_rows],
            output=asset("video"),
            thumbnail=asset("thumbnail"),
            assets=[
                Asset.from_row(asset_rows[kind]) for kind in sorted(asset_rows, key=asset_order)
            ],
            quote=CostQuote.model_validate(row["quote"]) if row["quote"] else None,
            cost_usd=row["cost_usd"],
            error=JobError.model_validate(row["error"]) if row["error"] else None,
            routing=row["routing"],
            hints=[PromptHint.model_validate(h) for h in row.get("hints") or ()],
            scan=OutputScan.model_validate(row["scan"]) if row.get("scan") else None,
            moderation=ModerationMark.model_validate(row["moderation"])
            if row.get("moderation")
            else None,
            not_before=_aware(row.get("not_before")),
            cached=CacheHit.model_validate(row["cached"]) if row.get("cached") else None,
            created_at=_aware(row["created_at"]) or _now(),
            updated_at=_aware(row["updated_at"]) or _now(),
            completed_at=_aware(row["completed_at"]),
        )
