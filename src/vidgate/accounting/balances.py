"""Provider account balances: the latest reading of each, and whether it covers the next hour.

Workers read the balance of every provider that exposes one (the catalogue's
``billing.balance``; Runway's ``GET /v1/organization``, Luma's ``GET /credits``) every
``VIDGATE_BALANCE_INTERVAL`` seconds and keep the latest reading per provider in the
``provider_balances`` table; ``vidgate providers`` and ``/metrics`` show it.
``covers_next_hour`` is the check an alert can call: does the balance outlast the last hour's
spend on that provider, repeated for one more hour?
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from .._clock import as_utc
from ..catalog import Billing
from ..db import attempts, provider_balances
from ..providers.base import Balance

__all__ = ["BalanceReading", "covers_next_hour", "latest", "record", "spend_last_hour"]


@dataclass(frozen=True)
class BalanceReading:
    provider: str
    usd: float | None
    credits: float | None
    read_at: datetime


def record(engine: sa.Engine, provider: str, balance: Balance, billing: Billing) -> BalanceReading:
    """Keep ``balance`` as ``provider``'s latest reading (credits also in USD, at the
    catalogue's credit price)."""
    usd = balance.usd
    if usd is None and balance.credits is not None and billing.credit_usd is not None:
        usd = round(balance.credits * billing.credit_usd, 2)
    now = datetime.now(UTC)
    row = {"usd": usd, "credits": balance.credits, "read_at": now}
    with engine.begin() as conn:
        updated = conn.execute(
            provider_balances.update().where(provider_balances.c.provider == provider).values(**row)
        ).rowcount
        if not updated:
            conn.execute(provider_balances.insert().values(provider=provider, **row))
    return BalanceReading(provider, usd, balance.credits, now)


def latest(engine: sa.Engine) -> dict[str, BalanceReading]:
    """Every provider's latest reading."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(provider_balances)).all()
    return {
        r.provider: BalanceReading(r.provider, r.usd, r.credits, as_utc(r.read_at) or r.read_at)
        for r in rows
    }


def spend_last_hour(engine: sa.Engine, provider: str, now: datetime | None = None) -> float:
    """What ``provider``'s attempts that finished in the last hour cost (USD)."""
    since = (now or datetime.now(UTC)) - timedelta(hours=1)
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(attempts.c.cost_usd), 0.0)).where(
                attempts.c.provider == provider, attempts.c.finished_at >= since
            )
        ).scalar_one()
    return float(total)


def covers_next_hour(reading: BalanceReading, spend_per_hour: float) -> bool | None:
    """Whether the balance outlasts one more hour at ``spend_per_hour`` (None: no USD figure)."""
    if reading.usd is None:
        return None
    return reading.usd >= spend_per_hour
