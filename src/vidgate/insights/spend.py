"""Spend over time, from the ledger's settled money (settlements and adjustments, as
``accounting.spend``): a series per bucket grouped by provider, model, end user or template;
the calendar month to date with a projection for the whole month; the dearest users and
templates of the window.

- **Buckets** are hours or the days of a calendar (``windows.aligned``): a tenant's own time
  zone (its budget row's ``timezone``) when the figures are one tenant's, UTC when they are
  everyone's. A ledger row falls in the bucket holding its ``at``.
- **Templates**: a job records the template it came from in its request (``template`` =
  ``name@version``, set by ``prompts.templates.expand``); spend is grouped by the name (every
  version together); a job without one is ``-``.
- **Projection**: the month's run rate so far, ``usd * month length / time elapsed`` (the
  tenant's calendar month, ``accounting.periods``). ``accounting.estimates.project`` does not
  fit: it prices a number of requests over a fixed 30-day month.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc
from ..accounting.ledger import SPENT
from ..accounting.periods import period_of
from ..db import budgets, jobs, ledger
from ..exceptions import InvalidRequest
from .windows import SERIES_WINDOWS, Window, aligned, default_bucket, parse_bucket, parse_window

__all__ = [
    "SERIES_BY",
    "MonthToDate",
    "Series",
    "SpendLine",
    "SpendSeries",
    "month_to_date",
    "parse_by",
    "spend_series",
    "tenant_timezone",
]

#: What a series may be grouped by.
SERIES_BY = ("provider", "model", "user", "template")
#: How many of the dearest users and templates a series lists, by default and at most.
TOP = 5
TOP_MAX = 50


@dataclass(frozen=True)
class SpendLine:
    key: str
    usd: float
    jobs: int

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "usd": round(self.usd, 6), "jobs": self.jobs}


@dataclass(frozen=True)
class Series:
    """One group's money per bucket (aligned with the window's ``buckets``)."""

    key: str
    usd: tuple[float, ...]
    total_usd: float
    jobs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "usd": [round(v, 6) for v in self.usd],
            "total_usd": round(self.total_usd, 6),
            "jobs": self.jobs,
        }


@dataclass(frozen=True)
class MonthToDate:
    """The calendar month holding ``now``: spent so far and the run-rate projection."""

    start: datetime
    end: datetime
    timezone: str
    usd: float
    projected_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "usd": round(self.usd, 6),
            "projected_usd": round(self.projected_usd, 2),
        }


@dataclass(frozen=True)
class SpendSeries:
    window: Window
    by: str
    tenant: str | None
    series: tuple[Series, ...]
    total_usd: float
    month: MonthToDate
    top_users: tuple[SpendLine, ...]
    top_templates: tuple[SpendLine, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "spend.series",
            "tenant": self.tenant,
            "by": self.by,
            "window": self.window.to_dict(),
            "buckets": [b.isoformat() for b in self.window.buckets],
            "total_usd": round(self.total_usd, 6),
            "series": [s.to_dict() for s in self.series],
            "month_to_date": self.month.to_dict(),
            "top_users": [line.to_dict() for line in self.top_users],
            "top_templates": [line.to_dict() for line in self.top_templates],
        }


def parse_by(text: str | None) -> str:
    value = (text or "").strip().lower()
    if value not in SERIES_BY:
        raise InvalidRequest(
            f"by is one of {', '.join(SERIES_BY)}, not {(text or '')[:40]!r}",
            details={"parameter": "by", "choices": list(SERIES_BY)},
        )
    return value


def tenant_timezone(engine: sa.Engine, tenant: str | None) -> str | None:
    """The tenant's calendar (its budget row's time zone); None: UTC (also for everyone)."""
    if tenant is None:
        return None
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(budgets.c.timezone).where(
                budgets.c.tenant == tenant, budgets.c.end_user == ""
            )
        ).scalar_one_or_none()
    return str(found) if found else None


def _spent(start: datetime, end: datetime, tenant: str | None) -> Any:
    query = (
        sa.select(
            ledger.c.end_user,
            ledger.c.provider,
            ledger.c.model,
            ledger.c.job_id,
            ledger.c.amount_usd,
            ledger.c.at,
            jobs.c.request["template"].as_string().label("template"),
        )
        .select_from(ledger.outerjoin(jobs, jobs.c.id == ledger.c.job_id))
        .where(ledger.c.kind.in_(SPENT), ledger.c.at >= start, ledger.c.at < end)
    )
    if tenant is not None:
        query = query.where(ledger.c.tenant == tenant)
    return query


def _key(by: str, row: Any) -> str:
    if by == "model":
        return f"{row.provider}:{row.model}" if row.provider else "-"
    if by == "user":
        return str(row.end_user or "-")
    if by == "template":
        return str(row.template).partition("@")[0] if row.template else "-"
    return str(row.provider or "-")


def _top(rows: list[Any], by: str, limit: int) -> tuple[SpendLine, ...]:
    usd: dict[str, float] = defaultdict(float)
    held: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        key = _key(by, row)
        usd[key] += row.amount_usd
        held[key].add(row.job_id)
    lines = sorted(
        (SpendLine(k, v, len(held[k])) for k, v in usd.items()), key=lambda x: (-x.usd, x.key)
    )
    return tuple(lines[:limit])


def month_to_date(
    engine: sa.Engine, *, now: datetime, tenant: str | None = None, timezone: str | None = None
) -> MonthToDate:
    """Spent in the calendar month holding ``now`` (the tenant's, or ``timezone``'s) up to
    ``now``, and the month projected at the rate so far."""
    month = period_of("month", now, timezone)
    query = sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount_usd), 0.0)).where(
        ledger.c.kind.in_(SPENT), ledger.c.at >= month.start, ledger.c.at < now
    )
    if tenant is not None:
        query = query.where(ledger.c.tenant == tenant)
    with engine.connect() as conn:
        usd = float(conn.execute(query).scalar_one())
    elapsed = (now - month.start).total_seconds()
    length = (month.end - month.start).total_seconds()
    projected = usd * length / elapsed if elapsed > 0 else usd
    return MonthToDate(month.start, month.end, timezone or "UTC", usd, projected)


def spend_series(
    engine: sa.Engine,
    *,
    by: str = "provider",
    window: str = "day",
    bucket: str | None = None,
    now: datetime,
    tenant: str | None = None,
    top: int = TOP,
) -> SpendSeries:
    """Money settled in the window (day, week or month) before ``now``, per bucket (hour or
    day; by default hours for a day, days otherwise) and per ``by`` group; with the month to
    date and the ``top`` dearest users and templates of the window. ``tenant`` None: everyone's
    (on UTC's calendar)."""
    by = parse_by(by)
    window = parse_window(window, SERIES_WINDOWS)
    bucket = parse_bucket(bucket) if bucket is not None else default_bucket(window)
    if not 1 <= top <= TOP_MAX:
        raise InvalidRequest(f"top is a whole number from 1 to {TOP_MAX}, not {top}")
    timezone = tenant_timezone(engine, tenant)
    span = aligned(window, bucket, now, timezone)
    with engine.connect() as conn:
        rows = list(conn.execute(_spent(span.start, span.end, tenant)))
    usd: dict[str, list[float]] = {}
    held: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        at = as_utc(row.at)
        if at is None or not span.contains(at):
            continue
        key = _key(by, row)
        usd.setdefault(key, [0.0] * len(span.buckets))[span.bucket_of(at)] += row.amount_usd
        held[key].add(row.job_id)
    series = sorted(
        (Series(k, tuple(v), sum(v), len(held[k])) for k, v in usd.items()),
        key=lambda s: (-s.total_usd, s.key),
    )
    return SpendSeries(
        window=span,
        by=by,
        tenant=tenant,
        series=tuple(series),
        total_usd=sum(s.total_usd for s in series),
        month=month_to_date(engine, now=now, tenant=tenant, timezone=timezone),
        top_users=_top(rows, "user", top),
        top_templates=_top(rows, "template", top),
    )
