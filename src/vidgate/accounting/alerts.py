"""Budget and spend alerts, checked by every worker every ``VIDGATE_ALERT_INTERVAL`` seconds.

- ``budget.threshold``: a budget's (used + reserved) / allowed crossed one of its thresholds
  (default 50, 80, 100 %) in the current period.
- ``spend.anomaly``: a tenant's spend in the last hour is ``VIDGATE_SPEND_ANOMALY_FACTOR``
  times its mean hourly spend over the 7 days before (and at least
  ``VIDGATE_SPEND_ANOMALY_MIN_USD``; a tenant with no history has no mean to compare with).

Each alert fires once per budget, period and threshold (once per tenant and hour for the
anomaly), across every process: its key is inserted into ``budget_alerts`` in the transaction
that queues its deliveries. It goes to the tenant's webhook as a signed event through the
webhook outbox, to the operator's ``VIDGATE_ALERT_WEBHOOK_URL`` as plain JSON through the same
outbox (unsigned: no tenant; the same SSRF-guarded sender), and to the log.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .._clock import utcnow
from ..db import budget_alerts, ledger, tenants, webhook_deliveries
from ..types import new_id
from .budgets import DEFAULT_THRESHOLDS, BudgetBook
from .ledger import SPENT, insert_if_new

__all__ = ["Alert", "AlertWatcher", "OPERATOR"]

log = logging.getLogger("vidgate.alerts")

#: The outbox's tenant for the operator's alerts: no tenant has this name, so they go unsigned.
OPERATOR = "-operator"
_TRAILING = timedelta(days=7)


@dataclass(frozen=True)
class Alert:
    key: str
    tenant: str
    event: str  # budget.threshold | spend.anomaly
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlertWatcher:
    engine: sa.Engine
    operator_url: str | None = None
    anomaly_factor: float = 5.0
    anomaly_min_usd: float = 1.0

    def check(self, now: datetime | None = None) -> list[Alert]:
        """One pass: every alert due now that has not fired yet is fired (and returned)."""
        now = now or utcnow()
        fired = []
        for alert in [*self._thresholds(now), *self._anomalies(now)]:
            if self._fire(alert, now):
                fired.append(alert)
        return fired

    def _thresholds(self, now: datetime) -> list[Alert]:
        found = []
        for budget in BudgetBook(self.engine).list(now=now):
            marks = budget.thresholds or DEFAULT_THRESHOLDS
            for stand in budget.standing:
                if not stand.limit.endswith("_usd") or not stand.allowed:
                    continue
                crossed = [m for m in marks if stand.ratio * 100 >= m]
                if not crossed:
                    continue
                mark = max(crossed)  # one alert for the highest threshold crossed
                who = budget.tenant + (f" user {budget.user}" if budget.user else "")
                word = "daily" if stand.period.kind == "day" else "monthly"
                found.append(
                    Alert(
                        key=f"{budget.tenant}/{budget.user}/{stand.limit}/{stand.period.key}/{mark:g}",
                        tenant=budget.tenant,
                        event="budget.threshold",
                        message=f"{who}: {stand.ratio:.0%} of the {word} budget "
                        f"of ${stand.allowed:.2f} is used or reserved (threshold {mark:g} %)",
                        data={
                            "tenant": budget.tenant,
                            "user": budget.user or None,
                            "threshold": mark,
                            "ratio": round(stand.ratio, 4),
                            **stand.to_dict(),
                        },
                    )
                )
        return found

    def _anomalies(self, now: datetime) -> list[Alert]:
        hour = now - timedelta(hours=1)
        spent = sa.func.coalesce(sa.func.sum(ledger.c.amount_usd), 0.0)
        with self.engine.connect() as conn:
            recent = conn.execute(
                sa.select(ledger.c.tenant, spent)
                .where(ledger.c.kind.in_(SPENT), ledger.c.at >= hour)
                .group_by(ledger.c.tenant)
            ).all()
            found = []
            for tenant, last_hour in recent:
                if last_hour < max(self.anomaly_min_usd, 1e-9):
                    continue
                before = conn.execute(
                    sa.select(spent).where(
                        ledger.c.tenant == tenant,
                        ledger.c.kind.in_(SPENT),
                        ledger.c.at >= hour - _TRAILING,
                        ledger.c.at < hour,
                    )
                ).scalar_one()
                mean = float(before) / (_TRAILING.total_seconds() / 3600)
                if mean <= 0 or last_hour < self.anomaly_factor * mean:
                    continue
                start = now.replace(minute=0, second=0, microsecond=0)
                found.append(
                    Alert(
                        key=f"{tenant}/anomaly/{start.isoformat()}",
                        tenant=tenant,
                        event="spend.anomaly",
                        message=f"{tenant}: ${last_hour:.2f} spent in the last hour, "
                        f"{last_hour / mean:.1f}x its hourly mean of ${mean:.2f} over 7 days",
                        data={
                            "tenant": tenant,
                            "last_hour_usd": round(float(last_hour), 6),
                            "hourly_mean_usd": round(mean, 6),
                            "factor": round(float(last_hour) / mean, 2),
                        },
                    )
                )
        return found

    def _fire(self, alert: Alert, now: datetime) -> bool:
        """Record the alert once and queue its deliveries, in one transaction."""
        with self.engine.begin() as conn:
            row = {"key": alert.key[:255], "tenant": alert.tenant, "fired_at": now}
            if not insert_if_new(conn, budget_alerts, row):
                return False  # fired already (here, or by another worker)
            url = conn.execute(
                sa.select(tenants.c.webhook_url).where(tenants.c.name == alert.tenant)
            ).scalar()
            payload = {"type": alert.event, "timestamp": now.isoformat(), "data": alert.data}
            if url:
                _queue(conn, alert.tenant, url, alert.event, payload, now)
            if self.operator_url:
                plain = {"text": f"vidgate {alert.event}: {alert.message}", **payload}
                _queue(conn, OPERATOR, self.operator_url, alert.event, plain, now)
        log.warning("%s: %s", alert.event, alert.message)
        return True

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Check every ``interval`` seconds until ``stop`` is set; a database hiccup is logged."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # keep watching after a database hiccup
                log.exception("budget alert check failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _queue(
    conn: sa.Connection, tenant: str, url: str, event: str, payload: dict[str, Any], now: datetime
) -> None:
    message_id = new_id("msg")
    conn.execute(
        webhook_deliveries.insert().values(
            id=message_id,
            tenant=tenant,
            job_id="",  # about no job
            event=event,
            url=url,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
