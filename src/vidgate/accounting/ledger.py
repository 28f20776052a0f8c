"""The ledger: every movement of money, one append-only row each.

- ``reservation`` — at admission, in the transaction that inserts the job: the worst case of its
  candidate chain (``amount_usd``) and the seconds of output it asks for.
- ``settlement`` — when the job ends, in the transaction that marks it terminal: one row per
  charged attempt, what it really cost (``attempts.cost_usd``; their sum is ``store.charged``).
- ``release`` — when the job ends and nothing was charged: its reservation is given back.
- ``adjustment`` — a charge learned after the job closed (``true_up``).

A job is closed exactly once: its first closing row carries ``once = "close:<job>"`` (unique),
inserted with ON CONFLICT DO NOTHING, so a step that runs again after a crash, or a cancel that
races the end, writes nothing the second time. A job's reservation is outstanding while the job
is unfinished (its status and its closing change in one transaction).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .._clock import utcnow
from ..db import attempts, jobs, ledger

__all__ = [
    "KINDS",
    "Reservation",
    "close_job",
    "insert_if_new",
    "job_money",
    "insert_once",
    "reserve",
    "reserved_by_tenant",
    "reserved_usd",
    "true_up",
    "used_usd",
    "videos_and_seconds",
]

KINDS = ("reservation", "settlement", "release", "adjustment")
#: What counts as money spent.
SPENT = ("settlement", "adjustment")
_OPEN = ("queued", "in_progress")


@dataclass(frozen=True)
class Reservation:
    """What admission holds for one job."""

    tenant: str
    user: str  # '' when the request named no end user
    job_id: str
    amount_usd: float
    seconds: float
    provider: str | None
    model: str | None
    basis: str


def insert_once(conn: sa.Connection, row: dict[str, Any]) -> bool:
    """Insert a ledger row; with a ``once`` key already written, nothing (returns False)."""
    return insert_if_new(conn, ledger, row)


def insert_if_new(conn: sa.Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was written. (The inserted key is
    returned and looked at: psycopg reports no rowcount for such an insert.)"""
    return conn.execute(_insert_if_new(conn.dialect.name, table), row).first() is not None


@functools.cache
def _insert_if_new(dialect_name: str, table: sa.Table) -> sa.Insert:
    """The statement, built once per dialect and table (its values come as parameters, so
    SQLAlchemy reuses one compiled form instead of building a statement per row)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement: sa.Insert = dialect.insert(table).on_conflict_do_nothing().returning(key)
    return statement


def reserve(conn: sa.Connection, held: Reservation, now: datetime | None = None) -> None:
    """The job's reservation row (once per job)."""
    insert_once(
        conn,
        {
            "tenant": held.tenant,
            "end_user": held.user,
            "job_id": held.job_id,
            "kind": "reservation",
            "provider": held.provider,
            "model": held.model,
            "amount_usd": round(held.amount_usd, 6),
            "seconds": held.seconds,
            "basis": held.basis[:255],
            "at": now or utcnow(),
            "once": f"reserve:{held.job_id}",
        },
    )


def _basis_column() -> Any:
    """Each attempt's cost basis where the attempts table has one (billed, computed…)."""
    return attempts.c["cost_basis"] if "cost_basis" in attempts.c else sa.null()


def close_job(conn: sa.Connection, job_id: str, now: datetime | None = None) -> str | None:
    """Settle the job's reservation to what its attempts cost, or release it when nothing was
    charged. Call it in the transaction that marks the job terminal. Returns the kind written
    (``settlement`` or ``release``), or None when the job was closed already or never reserved
    (a job admitted before the ledger existed)."""
    held = conn.execute(
        sa.select(ledger.c.tenant, ledger.c.end_user, ledger.c.provider, ledger.c.model).where(
            ledger.c.job_id == job_id, ledger.c.kind == "reservation"
        )
    ).first()
    if held is None:
        return None
    now = now or utcnow()
    charged = conn.execute(
        sa.select(
            attempts.c.id,
            attempts.c.provider,
            attempts.c.model,
            attempts.c.cost_usd,
            _basis_column().label("basis"),
        )
        .where(attempts.c.job_id == job_id, attempts.c.cost_usd.is_not(None))
        .order_by(attempts.c.number)
    ).all()
    base = {"tenant": held.tenant, "end_user": held.end_user, "job_id": job_id, "at": now}
    if not any(row.cost_usd for row in charged):  # nothing, or only refunds (0)
        released = {
            **base,
            "kind": "release",
            "provider": held.provider,
            "model": held.model,
            "amount_usd": 0.0,
            "basis": "nothing was charged",
            "once": f"close:{job_id}",
        }
        return "release" if insert_once(conn, released) else None
    for i, row in enumerate(charged):
        settled = {
            **base,
            "kind": "settlement",
            "attempt_id": row.id,
            "provider": row.provider,
            "model": row.model,
            "amount_usd": float(row.cost_usd),
            "basis": row.basis or "computed",
            "once": f"close:{job_id}" if i == 0 else f"settle:{row.id}",
        }
        if not insert_once(conn, settled) and i == 0:
            return None  # closed already: a re-run step, or a cancel that raced the end
    return "settlement"


def true_up(conn: sa.Connection, job_id: str, now: datetime | None = None) -> float:
    """For a closed job: an ``adjustment`` row for what its attempts cost beyond what the
    ledger settled (a late success found on reconciliation, a charge reported after the end).
    Returns the amount written (0.0 when the ledger already agrees)."""
    held = conn.execute(
        sa.select(ledger.c.tenant, ledger.c.end_user, ledger.c.provider, ledger.c.model).where(
            ledger.c.job_id == job_id, ledger.c.kind == "reservation"
        )
    ).first()
    closed = conn.execute(
        sa.select(sa.func.count()).where(ledger.c.once == f"close:{job_id}")
    ).scalar_one()
    if held is None or not closed:
        return 0.0
    charged = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(attempts.c.cost_usd), 0.0)).where(
            attempts.c.job_id == job_id
        )
    ).scalar_one()
    settled = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_usd), 0.0)).where(
            ledger.c.job_id == job_id, ledger.c.kind.in_(SPENT)
        )
    ).scalar_one()
    delta = round(float(charged) - float(settled), 6)
    if delta == 0:
        return 0.0
    provider, model = conn.execute(
        sa.select(jobs.c.provider, jobs.c.model).where(jobs.c.id == job_id)
    ).one()
    conn.execute(
        ledger.insert().values(
            tenant=held.tenant,
            end_user=held.end_user,
            job_id=job_id,
            kind="adjustment",
            provider=provider or held.provider,
            model=model or held.model,
            amount_usd=delta,
            basis="charged after the job closed",
            at=now or utcnow(),
        )
    )
    return delta


def _subject(query: Any, tenant: str, user: str | None) -> Any:
    query = query.where(ledger.c.tenant == tenant)
    return query if user is None else query.where(ledger.c.end_user == user)


def used_usd(conn: sa.Connection, tenant: str, user: str | None, since: datetime) -> float:
    """Money spent (settlements and adjustments) since ``since``; ``user`` None: all users."""
    query = sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_usd), 0.0)).where(
        ledger.c.kind.in_(SPENT), ledger.c.at >= since
    )
    return float(conn.execute(_subject(query, tenant, user)).scalar_one())


def reserved_usd(conn: sa.Connection, tenant: str, user: str | None) -> float:
    """What unfinished jobs hold (their reservations, whenever they were made)."""
    query = (
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_usd), 0.0))
        .select_from(ledger.join(jobs, jobs.c.id == ledger.c.job_id))
        .where(ledger.c.kind == "reservation", jobs.c.status.in_(_OPEN))
    )
    return float(conn.execute(_subject(query, tenant, user)).scalar_one())


def reserved_by_tenant(conn: sa.Connection) -> dict[str, float]:
    """Every tenant's money held by unfinished jobs (for ``/metrics``)."""
    query = (
        sa.select(ledger.c.tenant, sa.func.sum(ledger.c.amount_usd))
        .select_from(ledger.join(jobs, jobs.c.id == ledger.c.job_id))
        .where(ledger.c.kind == "reservation", jobs.c.status.in_(_OPEN))
        .group_by(ledger.c.tenant)
    )
    return {tenant: float(usd or 0.0) for tenant, usd in conn.execute(query)}


def videos_and_seconds(
    conn: sa.Connection, tenant: str, user: str | None, since: datetime
) -> tuple[int, float]:
    """Jobs admitted since ``since`` and their seconds of output, not counting the jobs whose
    reservation was released (they failed or were cancelled with nothing charged)."""
    released = sa.exists().where(
        sa.and_(
            ledger.c.job_id == _reservations.c.job_id,
            ledger.c.kind == "release",
        )
    )
    query = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(_reservations.c.seconds), 0.0)
    ).where(
        _reservations.c.kind == "reservation",
        _reservations.c.at >= since,
        _reservations.c.tenant == tenant,
        ~released,
    )
    if user is not None:
        query = query.where(_reservations.c.end_user == user)
    count, seconds = conn.execute(query).one()
    return int(count), float(seconds)


_reservations = ledger.alias("reservations")


def job_money(engine: sa.Engine, job_id: str) -> dict[str, float]:
    """A job's ledger by kind (reservation, settlement, release, adjustment): its total each."""
    query = (
        sa.select(ledger.c.kind, sa.func.sum(ledger.c.amount_usd))
        .where(ledger.c.job_id == job_id)
        .group_by(ledger.c.kind)
    )
    with engine.connect() as conn:
        return {kind: float(total or 0.0) for kind, total in conn.execute(query)}
