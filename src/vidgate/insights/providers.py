"""Provider figures over a window: per provider and model, how many attempts, how they ended,
how long the successful ones took (p50/p95), which error codes the failures carried, and what a
delivered second of video cost.

Which attempts count: those that ended in the window (``finished_at`` in ``[start, end)``:
succeeded, failed, canceled), and those still running that were submitted in it. The success
rate is ``succeeded / (succeeded + failed)`` — a cancel is the caller's, not the model's — and
None when nothing finished. Generation time is ``submitted_at → finished_at`` of the succeeded
attempts, its percentiles computed in Python (``quantiles.percentile``: linear interpolation,
as PostgreSQL's ``percentile_cont``). Error codes are the stable ``code`` of the ``JobError``
each failed attempt stores in ``attempts.error``. Cost: ``cost_usd`` sums what every attempt in
the window was charged (a failed attempt may be: a bad output is paid for); the price of a
delivered second is what the succeeded attempts cost over the seconds they delivered (the
delivered video's measured duration, else the duration asked for).

A tenant sees the figures of its own jobs' attempts; ``tenant=None`` is everyone's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc
from ..db import assets, attempts, jobs
from ..types import AttemptStatus
from .quantiles import percentile
from .windows import STATS_WINDOWS, Window, parse_window, rolling

__all__ = ["ModelStats", "ProviderStats", "provider_stats"]

_OPEN = (AttemptStatus.SUBMITTING.value, AttemptStatus.RUNNING.value)
#: How many error codes a row lists (the most frequent).
TOP_ERRORS = 10


@dataclass(frozen=True)
class ModelStats:
    """One provider's model over the window; ``model`` None is the provider's models together."""

    provider: str
    model: str | None
    attempts: int
    succeeded: int
    failed: int
    canceled: int
    running: int
    success_rate: float | None
    p50_seconds: float | None
    p95_seconds: float | None
    #: ``(code, count)``, most frequent first (at most ``TOP_ERRORS``).
    errors: tuple[tuple[str, int], ...]
    cost_usd: float
    output_seconds: float
    usd_per_output_second: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "attempts": self.attempts,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "canceled": self.canceled,
            "running": self.running,
            "success_rate": _round(self.success_rate, 4),
            "p50_seconds": _round(self.p50_seconds, 3),
            "p95_seconds": _round(self.p95_seconds, 3),
            "errors": [{"code": code, "count": count} for code, count in self.errors],
            "cost_usd": round(self.cost_usd, 6),
            "output_seconds": round(self.output_seconds, 3),
            "usd_per_output_second": _round(self.usd_per_output_second, 6),
        }


@dataclass(frozen=True)
class ProviderStats:
    window: Window
    tenant: str | None
    #: One row per ``(provider, model)``, by provider then model.
    models: tuple[ModelStats, ...]
    #: One row per provider (``model`` None), its models together.
    providers: tuple[ModelStats, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "stats.providers",
            "window": self.window.to_dict(),
            "tenant": self.tenant,
            "providers": [p.to_dict() for p in self.providers],
            "data": [m.to_dict() for m in self.models],
        }


@dataclass
class _Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cost: float = 0.0
    paid: float = 0.0  # what the succeeded attempts with a known length cost
    delivered: float = 0.0  # … and the seconds they delivered

    def add(self, row: Any) -> None:
        status = row.status
        self.statuses[status] += 1
        self.cost += float(row.cost_usd or 0.0)
        if status == AttemptStatus.FAILED.value:
            self.errors[row.code or "unknown"] += 1
        if status != AttemptStatus.SUCCEEDED.value:
            return
        start, end = as_utc(row.submitted_at), as_utc(row.finished_at)
        if start is not None and end is not None:
            self.seconds.append(max((end - start).total_seconds(), 0.0))
        length = row.delivered if row.delivered is not None else row.asked
        if length:
            self.delivered += float(length)
            self.paid += float(row.cost_usd or 0.0)

    def merge(self, other: _Tally) -> None:
        self.statuses.update(other.statuses)
        self.seconds.extend(other.seconds)
        self.errors.update(other.errors)
        self.cost += other.cost
        self.paid += other.paid
        self.delivered += other.delivered

    def stats(self, provider: str, model: str | None) -> ModelStats:
        ok = self.statuses[AttemptStatus.SUCCEEDED.value]
        failed = self.statuses[AttemptStatus.FAILED.value]
        return ModelStats(
            provider=provider,
            model=model,
            attempts=sum(self.statuses.values()),
            succeeded=ok,
            failed=failed,
            canceled=self.statuses[AttemptStatus.CANCELED.value],
            running=sum(self.statuses[s] for s in _OPEN),
            success_rate=ok / (ok + failed) if ok + failed else None,
            p50_seconds=percentile(self.seconds, 0.5),
            p95_seconds=percentile(self.seconds, 0.95),
            errors=tuple(sorted(self.errors.items(), key=lambda e: (-e[1], e[0]))[:TOP_ERRORS]),
            cost_usd=self.cost,
            output_seconds=self.delivered,
            usd_per_output_second=self.paid / self.delivered if self.delivered else None,
        )


def provider_stats(
    engine: sa.Engine, window: str, *, now: datetime, tenant: str | None = None
) -> ProviderStats:
    """Per provider and model, the attempts of the last ``window`` (hour, day or week) before
    ``now`` (aware UTC); ``tenant`` None: every tenant's."""
    span = rolling(parse_window(window, STATS_WINDOWS), now)
    video = assets.alias("video")
    query = (
        sa.select(
            attempts.c.provider,
            attempts.c.model,
            attempts.c.status,
            attempts.c.error["code"].as_string().label("code"),
            attempts.c.submitted_at,
            attempts.c.finished_at,
            attempts.c.cost_usd,
            video.c.media["duration"].as_float().label("delivered"),
            jobs.c.request["duration"].as_float().label("asked"),
        )
        .select_from(
            attempts.join(jobs, jobs.c.id == attempts.c.job_id).outerjoin(
                video, sa.and_(video.c.job_id == attempts.c.job_id, video.c.kind == "video")
            )
        )
        .where(
            sa.or_(
                sa.and_(attempts.c.finished_at >= span.start, attempts.c.finished_at < span.end),
                sa.and_(
                    attempts.c.finished_at.is_(None),
                    attempts.c.status.in_(_OPEN),
                    attempts.c.submitted_at >= span.start,
                    attempts.c.submitted_at < span.end,
                ),
            )
        )
    )
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    tallies: dict[tuple[str, str], _Tally] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            tallies.setdefault((row.provider, row.model), _Tally()).add(row)
    per_provider: dict[str, _Tally] = {}
    for (provider, _model), tally in tallies.items():
        per_provider.setdefault(provider, _Tally()).merge(tally)
    return ProviderStats(
        window=span,
        tenant=tenant,
        models=tuple(tallies[key].stats(*key) for key in sorted(tallies)),
        providers=tuple(per_provider[p].stats(p, None) for p in sorted(per_provider)),
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
