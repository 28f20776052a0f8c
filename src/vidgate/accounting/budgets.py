"""Budgets (USD a day, a month) and quotas (videos a day, seconds of output a month), per
tenant and per end user, and the admission check that enforces them.

``admit`` runs inside the transaction that inserts the job. When the tenant (or the request's
end user) has any limit, it first takes the write lock of the budget rows — an ``UPDATE`` of
the tenant's row, then of the user's, always in that order: a row lock on PostgreSQL, the
database's write lock on SQLite — then counts what is used and reserved, refuses or writes the
job's reservation, and the lock is held until the job's insert commits. So concurrent creates,
from one process or many, are admitted one after another against what the others reserved.
A tenant with no budget and no quota is not locked; its jobs are reserved all the same (the
ledger records every job).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import utcnow
from ..db import budgets
from ..exceptions import BudgetExceeded, InvalidRequest, NotFound, QuotaExceeded
from .ledger import Reservation, reserve, reserved_usd, used_usd, videos_and_seconds
from .periods import Period, period_of, zone

__all__ = [
    "BUDGET_FIELDS",
    "DEFAULT_THRESHOLDS",
    "LIMITS",
    "Budget",
    "BudgetBook",
    "Standing",
    "admit",
    "budget_changes",
    "check_user",
]

#: The limits by their public names (CLI flags, the admin API's fields).
LIMITS = ("daily_usd", "monthly_usd", "daily_videos", "monthly_seconds")
#: Every field a budget row has, by public name.
BUDGET_FIELDS = (*LIMITS, "timezone", "thresholds")
#: Alert thresholds in percent of a budget when a budget names none.
DEFAULT_THRESHOLDS = (50.0, 80.0, 100.0)
_PERIOD = {"daily_usd": "day", "monthly_usd": "month", "daily_videos": "day"}
_PERIOD["monthly_seconds"] = "month"
_MAX_USD = 10_000_000.0
_MAX_COUNT = 10_000_000
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:+=-]{0,127}$")


def check_user(user: str) -> str:
    """An end user's id as a request or a command names it (``user`` on create)."""
    if not _USER.match(user):
        raise InvalidRequest(
            "user is 1 to 128 letters, digits or _.@:+=- (starting with a letter or digit)",
            details={"param": "user"},
        )
    return user


def budget_changes(values: Mapping[str, Any], *, tenant_row: bool) -> dict[str, Any]:
    """Validate changes given by public name (``None`` clears one, an absent name is left
    alone) and return them as column values. ``timezone`` and ``thresholds`` belong to the
    tenant-wide row (``tenant_row``)."""
    unknown = sorted(set(values) - set(BUDGET_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown budget fields {unknown}; known: {list(BUDGET_FIELDS)}")
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("timezone", "thresholds") and not tenant_row and value is not None:
            raise InvalidRequest(f"{name} is set on the tenant's budget, not on a user's")
        if value is None:
            changes[name] = None
        elif name == "timezone":
            if not isinstance(value, str):
                raise InvalidRequest("timezone must be an IANA name such as Europe/Paris")
            zone(value)
            changes[name] = value
        elif name == "thresholds":
            changes[name] = _thresholds(value)
        elif name == "daily_videos":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest("daily_videos must be a whole number, or null to clear it")
            if not 0 <= value <= _MAX_COUNT:
                raise InvalidRequest(f"daily_videos must be between 0 and {_MAX_COUNT}")
            changes[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidRequest(f"{name} must be a number, or null to clear it")
            if not math.isfinite(value) or not 0 <= value <= _MAX_USD:
                raise InvalidRequest(f"{name} must be between 0 and {_MAX_USD:g}, not {value}")
            changes[name] = float(value)
    return changes


def _thresholds(value: Any) -> list[float]:
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= 10:
        raise InvalidRequest("thresholds is a list of 1 to 10 percentages, e.g. [50, 80, 100]")
    found = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidRequest("each threshold is a percentage between 1 and 1000")
        if not 1 <= item <= 1000:
            raise InvalidRequest("each threshold is a percentage between 1 and 1000")
        found.append(float(item))
    return sorted(set(found))


@dataclass(frozen=True)
class Standing:
    """One limit of one budget now: how much of it is used, held, and when it resets."""

    limit: str  # daily_usd | monthly_usd | daily_videos | monthly_seconds
    period: Period
    allowed: float
    used: float
    reserved: float = 0.0

    @property
    def ratio(self) -> float:
        return (self.used + self.reserved) / self.allowed if self.allowed else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "period": self.period.kind,
            "allowed": self.allowed,
            "used": round(self.used, 6),
            "reserved": round(self.reserved, 6),
            "remaining": round(max(self.allowed - self.used - self.reserved, 0.0), 6),
            "period_start": self.period.start.isoformat(),
            "resets_at": self.period.end.isoformat(),
        }


@dataclass(frozen=True)
class Budget:
    tenant: str
    user: str  # '' for the tenant-wide budget
    daily_usd: float | None = None
    monthly_usd: float | None = None
    daily_videos: int | None = None
    monthly_seconds: float | None = None
    timezone: str | None = None
    thresholds: tuple[float, ...] | None = None
    standing: tuple[Standing, ...] = field(default=())

    @property
    def limited(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMITS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "budget",
            "tenant": self.tenant,
            "user": self.user or None,
            **{name: getattr(self, name) for name in LIMITS},
            "timezone": self.timezone or "UTC",
            "thresholds": list(self.thresholds or DEFAULT_THRESHOLDS),
            "standing": [s.to_dict() for s in self.standing],
        }


def _budget(row: Any) -> Budget:
    return Budget(
        tenant=row.tenant,
        user=row.end_user,
        daily_usd=row.daily_usd,
        monthly_usd=row.monthly_usd,
        daily_videos=row.daily_videos,
        monthly_seconds=row.monthly_seconds,
        timezone=row.timezone,
        thresholds=tuple(row.thresholds) if row.thresholds else None,
    )


_ROWS = sa.select(budgets).where(
    budgets.c.tenant == sa.bindparam("tenant"),
    budgets.c.end_user.in_(sa.bindparam("subjects", expanding=True)),
)


def _rows(conn: sa.Connection, tenant: str, subjects: list[str]) -> list[Budget]:
    found = [_budget(r) for r in conn.execute(_ROWS, {"tenant": tenant, "subjects": subjects})]
    return sorted(found, key=lambda b: b.user)


def standing(conn: sa.Connection, budget: Budget, tz: str | None, now: datetime) -> list[Standing]:
    """Each limit the budget sets, as it stands at ``now`` (``tz``: the tenant's zone)."""
    user = budget.user or None  # the tenant-wide budget counts every user's jobs
    found: list[Standing] = []
    reserved: float | None = None
    for name in LIMITS:
        allowed = getattr(budget, name)
        if allowed is None:
            continue
        period = period_of(_PERIOD[name], now, tz)
        if name.endswith("_usd"):
            if reserved is None:
                reserved = reserved_usd(conn, budget.tenant, user)
            used = used_usd(conn, budget.tenant, user, period.start)
            found.append(Standing(name, period, float(allowed), used, reserved))
        else:
            videos, seconds = videos_and_seconds(conn, budget.tenant, user, period.start)
            used = float(videos) if name == "daily_videos" else seconds
            found.append(Standing(name, period, float(allowed), used))
    return found


def admit(conn: sa.Connection, held: Reservation, now: datetime | None = None) -> None:
    """Inside the transaction inserting the job: refuse it (``BudgetExceeded``,
    ``QuotaExceeded``) if it could take a budget or quota of its tenant or end user past the
    limit, counting what the unfinished jobs reserved; otherwise write its reservation."""
    now = now or utcnow()
    subjects = ["", held.user] if held.user else [""]
    if any(b.limited for b in _rows(conn, held.tenant, subjects)):
        for subject in subjects:  # the tenant's row first, always: no deadlock between users
            conn.execute(
                budgets.update()
                .where(budgets.c.tenant == held.tenant, budgets.c.end_user == subject)
                .values(updated_at=budgets.c.updated_at)
            )
        rows = _rows(conn, held.tenant, subjects)  # read again under the lock
        tz = next((b.timezone for b in rows if not b.user), None)
        for budget in rows:
            for stand in standing(conn, budget, tz, now):
                _refuse_if_over(budget, stand, held, now)
    reserve(conn, held, now)


def _refuse_if_over(budget: Budget, stand: Standing, held: Reservation, now: datetime) -> None:
    who = f"tenant {budget.tenant!r}" + (f" user {budget.user!r}" if budget.user else "")
    resets = stand.period.end
    facts: dict[str, Any] = {
        "tenant": budget.tenant,
        "user": budget.user or None,
        **stand.to_dict(),
    }
    when = "today" if stand.period.kind == "day" else "this month"
    if stand.limit.endswith("_usd"):
        if stand.used + stand.reserved + held.amount_usd <= stand.allowed + 1e-9:
            return
        facts["requested"] = round(held.amount_usd, 6)
        raise BudgetExceeded(
            f"this job could cost up to ${held.amount_usd:.2f}, which would take {who} past its "
            f"{_word(stand)} budget of ${stand.allowed:.2f}: ${stand.used:.2f} is used and "
            f"${stand.reserved:.2f} reserved {when}; it resets at {resets.isoformat()}",
            details=facts,
        )
    requested = 1.0 if stand.limit == "daily_videos" else held.seconds
    if stand.used + requested <= stand.allowed + 1e-9:
        return
    facts["requested"] = requested
    unit = "videos" if stand.limit == "daily_videos" else "seconds of output"
    raise QuotaExceeded(
        f"{who} has used {stand.used:g} of its {stand.allowed:g} {unit} {when}"
        + (f" and this job asks for {held.seconds:g} s" if stand.limit == "monthly_seconds" else "")
        + f"; it resets at {resets.isoformat()}",
        retry_after=max((resets - now).total_seconds(), 1.0),
        details=facts,
    )


def _word(stand: Standing) -> str:
    return "daily" if stand.period.kind == "day" else "monthly"


class BudgetBook:
    """Reading and changing budgets (the CLI and the admin API)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def set(self, tenant: str, user: str | None, values: Mapping[str, Any]) -> Budget:
        """Change the fields named in ``values`` (``None`` clears one), creating the row."""
        subject = check_user(user) if user else ""
        changes = budget_changes(values, tenant_row=not subject)
        now = utcnow()
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(budgets.c.tenant).where(
                    budgets.c.tenant == tenant, budgets.c.end_user == subject
                )
            ).first()
            if exists is None:
                conn.execute(
                    budgets.insert().values(
                        tenant=tenant, end_user=subject, created_at=now, updated_at=now, **changes
                    )
                )
            elif changes:
                conn.execute(
                    budgets.update()
                    .where(budgets.c.tenant == tenant, budgets.c.end_user == subject)
                    .values(updated_at=now, **changes)
                )
        return self.get(tenant, user)

    def delete(self, tenant: str, user: str | None) -> None:
        subject = user or ""
        with self.engine.begin() as conn:
            gone = conn.execute(
                budgets.delete().where(budgets.c.tenant == tenant, budgets.c.end_user == subject)
            ).rowcount
        if gone != 1:
            raise NotFound(_missing(tenant, user))

    def get(self, tenant: str, user: str | None = None, now: datetime | None = None) -> Budget:
        """One budget with how each of its limits stands now."""
        found = self.list(tenant, user=user, now=now)
        if not found:
            raise NotFound(_missing(tenant, user))
        return found[0]

    def list(
        self, tenant: str | None = None, *, user: str | None = None, now: datetime | None = None
    ) -> list[Budget]:
        """Budgets (of one tenant, or all), each with its standing now."""
        now = now or utcnow()
        query = sa.select(budgets).order_by(budgets.c.tenant, budgets.c.end_user)
        if tenant is not None:
            query = query.where(budgets.c.tenant == tenant)
        if user is not None:
            query = query.where(budgets.c.end_user == user)
        with self.engine.connect() as conn:
            rows = [_budget(r) for r in conn.execute(query)]
            zones = dict(
                conn.execute(
                    sa.select(budgets.c.tenant, budgets.c.timezone).where(budgets.c.end_user == "")
                ).all()
            )
            return [
                replace(b, standing=tuple(standing(conn, b, zones.get(b.tenant), now)))
                for b in rows
            ]


def _missing(tenant: str, user: str | None) -> str:
    return f"no budget for tenant {tenant!r}" + (f" user {user!r}" if user else "")
