"""Provider health: a circuit breaker per provider, shared by every process through the database.

    closed ──(N consecutive failures)──▶ open ──(cooldown passes)──▶ half_open
      ▲                                   ▲                              │
      └──────────── a success ────────────┴──────── a failure ───────────┘

While open, routing skips the provider. After the cooldown, exactly one job may probe it (the
process that wins the ``open → half_open`` update); its success closes the circuit and its
failure opens it again for another cooldown. Content rejections and the caller's own errors
say nothing about a provider's health and are not counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa

from .._clock import as_utc as _aware
from .._clock import utcnow as _now
from ..db import provider_health
from ..types import Outcome

__all__ = ["CircuitState", "Health", "HealthBook"]

#: Outcomes that count against a provider's health.
_COUNTED = {Outcome.RETRYABLE, Outcome.TERMINAL, Outcome.OPERATOR_ACTION}


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Health:
    provider: str
    state: CircuitState
    consecutive_failures: int
    opened_at: datetime | None
    last_error: str | None
    retry_at: datetime | None

    def describe(self) -> str:
        if self.state is CircuitState.CLOSED:
            failures = self.consecutive_failures
            return "healthy" if failures == 0 else f"healthy ({failures} recent failures)"
        if self.state is CircuitState.HALF_OPEN:
            return "probing (half-open)"
        until = self.retry_at.strftime("%H:%M:%S") if self.retry_at else "?"
        return f"circuit open until {until} UTC: {self.last_error or 'failures'}"


class HealthBook:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        threshold: int,
        cooldown: float,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.engine = engine
        self.threshold = threshold
        self.cooldown = timedelta(seconds=cooldown)
        self._now = clock

    def get(self, provider: str) -> Health:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(provider_health).where(provider_health.c.provider == provider)
                )
                .mappings()
                .first()
            )
        if row is None:
            return Health(provider, CircuitState.CLOSED, 0, None, None, None)
        opened = _aware(row["opened_at"])
        return Health(
            provider=provider,
            state=CircuitState(row["state"]),
            consecutive_failures=row["consecutive_failures"],
            opened_at=opened,
            last_error=row["last_error"],
            retry_at=opened + self.cooldown if opened else None,
        )

    def admit(self, provider: str) -> tuple[bool, str | None]:
        """May a job use ``provider`` now? Claims the half-open probe when the cooldown is over.
        Returns ``(allowed, reason_if_not)``."""
        health = self.get(provider)
        if health.state is CircuitState.CLOSED:
            return True, None
        if health.state is CircuitState.HALF_OPEN:
            return False, "circuit half-open: another job is probing the provider"
        assert health.opened_at is not None
        now = self._now()
        if now < health.opened_at + self.cooldown:
            return False, health.describe()
        with self.engine.begin() as conn:
            # Only one process wins the probe: the first to flip open → half_open.
            claimed = conn.execute(
                provider_health.update()
                .where(
                    provider_health.c.provider == provider,
                    provider_health.c.state == CircuitState.OPEN.value,
                    provider_health.c.opened_at <= now - self.cooldown,
                )
                .values(state=CircuitState.HALF_OPEN.value, updated_at=self._now())
            ).rowcount
        if claimed == 1:
            return True, None
        return False, "circuit half-open: another job is probing the provider"

    def record(self, provider: str, outcome: Outcome | None, error: str | None = None) -> None:
        """Count an attempt's result. ``outcome`` None means it succeeded."""
        if outcome is not None and outcome not in _COUNTED:
            return
        now = self._now()
        with self.engine.begin() as conn:
            row = (
                conn.execute(
                    sa.select(provider_health).where(provider_health.c.provider == provider)
                )
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    provider_health.insert().values(
                        provider=provider,
                        state=CircuitState.CLOSED.value,
                        consecutive_failures=0,
                        updated_at=now,
                    )
                )
                failures, state = 0, CircuitState.CLOSED
            else:
                failures, state = row["consecutive_failures"], CircuitState(row["state"])
            if outcome is None:
                values = {
                    "state": CircuitState.CLOSED.value,
                    "consecutive_failures": 0,
                    "opened_at": None,
                }
            else:
                failures += 1
                opens = state is CircuitState.HALF_OPEN or failures >= self.threshold
                values = {"consecutive_failures": failures, "last_error": (error or "")[:500]}
                if opens:
                    values.update(state=CircuitState.OPEN.value, opened_at=now)
            conn.execute(
                provider_health.update()
                .where(provider_health.c.provider == provider)
                .values(updated_at=now, **values)
            )
