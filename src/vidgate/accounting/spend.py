"""Spend reports from the ledger: what was really charged (settlements and adjustments),
grouped by provider, model, end user or day."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc
from ..db import ledger
from ..exceptions import InvalidRequest
from .ledger import SPENT

__all__ = ["GROUPS", "SpendLine", "spend_report"]

#: What a report may be grouped by.
GROUPS = ("provider", "model", "user", "day", "tenant")


@dataclass(frozen=True)
class SpendLine:
    key: str
    usd: float
    jobs: int

    def to_dict(self, by: str) -> dict[str, Any]:
        return {by: self.key, "usd": round(self.usd, 6), "jobs": self.jobs}


def spend_report(
    engine: sa.Engine,
    *,
    by: str = "provider",
    tenant: str | None = None,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[SpendLine]:
    """Money charged, one line per ``by`` value (most first). ``tenant`` None: every tenant."""
    if by not in GROUPS:
        raise InvalidRequest(f"a report is grouped by one of {', '.join(GROUPS)}, not {by!r}")
    query = sa.select(
        ledger.c.tenant,
        ledger.c.end_user,
        ledger.c.provider,
        ledger.c.model,
        ledger.c.job_id,
        ledger.c.amount_usd,
        ledger.c.at,
    ).where(ledger.c.kind.in_(SPENT))
    if tenant is not None:
        query = query.where(ledger.c.tenant == tenant)
    if user is not None:
        query = query.where(ledger.c.end_user == user)
    if since is not None:
        query = query.where(ledger.c.at >= since)
    if until is not None:
        query = query.where(ledger.c.at < until)
    usd: dict[str, float] = defaultdict(float)
    jobs: dict[str, set[str]] = defaultdict(set)
    with engine.connect() as conn:
        for row in conn.execute(query):
            key = _key(by, row)
            usd[key] += row.amount_usd
            jobs[key].add(row.job_id)
    lines = [SpendLine(k, v, len(jobs[k])) for k, v in usd.items()]
    return sorted(lines, key=lambda line: (-line.usd, line.key))


def _key(by: str, row: Any) -> str:
    if by == "day":
        at = as_utc(row.at)
        return at.date().isoformat() if at else "-"
    if by == "model":
        return f"{row.provider}:{row.model}" if row.provider else "-"
    if by == "user":
        return str(row.end_user or "-")
    return str(getattr(row, by) or "-")
