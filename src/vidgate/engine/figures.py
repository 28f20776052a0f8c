"""Job figures read from the database at the moment they are asked for (``/metrics``), so they
are true across every worker and API process sharing it, not only the one answering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..accounting.budgets import BudgetBook
from ..accounting.ledger import SPENT, reserved_by_tenant
from ..db import attempts, job_events, jobs, ledger, provider_balances

__all__ = ["JobFigures", "ProviderFigures", "read_figures"]

#: Phase durations are averaged over this many of the most recently finished jobs.
RECENT_JOBS = 1000


@dataclass
class ProviderFigures:
    """One provider's attempts: money spent (settled in the ledger), and how the finished ones
    ended."""

    spend_usd: float = 0.0
    finished: int = 0
    succeeded: int = 0
    generation_seconds: float = 0.0  # summed over succeeded attempts, submit → finish

    @property
    def success_ratio(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None

    @property
    def mean_generation_seconds(self) -> float | None:
        return self.generation_seconds / self.succeeded if self.succeeded else None


@dataclass
class JobFigures:
    #: ``(status, provider or "none")`` → how many jobs.
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    providers: dict[str, ProviderFigures] = field(default_factory=dict)
    #: ``(provider or "none", phase)`` → mean seconds a recent finished job spent in it.
    phase_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    #: ``(tenant, provider, model)`` → USD charged, from the ledger.
    spend: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: tenant → USD held by its unfinished jobs.
    reserved: dict[str, float] = field(default_factory=dict)
    #: ``(tenant, user or "", limit)`` → (used + reserved) / allowed, for every budget set.
    budget_ratios: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: provider → its latest account balance in USD (where it exposes one).
    balances_usd: dict[str, float] = field(default_factory=dict)


def read_figures(engine: sa.Engine) -> JobFigures:
    """Every figure ``/metrics`` shows, in one read-only pass over the database."""
    figures = JobFigures()
    with engine.connect() as conn:
        for status, provider, count in conn.execute(
            sa.select(jobs.c.status, jobs.c.provider, sa.func.count()).group_by(
                jobs.c.status, jobs.c.provider
            )
        ):
            figures.jobs[(status, provider or "none")] = count
        rows = conn.execute(
            sa.select(
                attempts.c.provider,
                attempts.c.status,
                attempts.c.submitted_at,
                attempts.c.finished_at,
                attempts.c.cost_usd,
            )
        ).all()
        figures.phase_seconds = _phase_means(conn)
        groups = (ledger.c.tenant, ledger.c.provider, ledger.c.model)
        for tenant, provider, model, usd in conn.execute(
            sa.select(*groups, sa.func.sum(ledger.c.amount_usd))
            .where(ledger.c.kind.in_(SPENT))
            .group_by(*groups)
        ):
            figures.spend[(tenant, provider or "none", model or "none")] = float(usd or 0.0)
            one = figures.providers.setdefault(provider or "none", ProviderFigures())
            one.spend_usd += float(usd or 0.0)
        figures.reserved = reserved_by_tenant(conn)
        figures.balances_usd = {
            provider: usd
            for provider, usd in conn.execute(
                sa.select(provider_balances.c.provider, provider_balances.c.usd)
            )
            if usd is not None
        }
    for budget in BudgetBook(engine).list():
        for stand in budget.standing:
            figures.budget_ratios[(budget.tenant, budget.user, stand.limit)] = stand.ratio
    for provider, status, submitted, finished, _cost in rows:
        one = figures.providers.setdefault(provider, ProviderFigures())
        if status in ("succeeded", "failed"):
            one.finished += 1
        if status == "succeeded":
            one.succeeded += 1
            if submitted and finished:
                one.generation_seconds += (finished - submitted).total_seconds()
    return figures


def _phase_means(conn: sa.Connection) -> dict[tuple[str, str], float]:
    recent = (
        sa.select(jobs.c.id, jobs.c.provider)
        .where(jobs.c.completed_at.is_not(None))
        .order_by(jobs.c.completed_at.desc())
        .limit(RECENT_JOBS)
        .subquery()
    )
    rows = conn.execute(
        sa.select(recent.c.provider, job_events.c.job_id, job_events.c.phase, job_events.c.at)
        .join(recent, recent.c.id == job_events.c.job_id)
        .order_by(job_events.c.job_id, job_events.c.id)
    ).all()
    spans: dict[tuple[str, str], list[float]] = {}
    previous: Any = None
    for provider, job_id, phase, at in rows:
        if previous is not None and previous[0] == job_id and previous[1] != phase:
            key = (provider or "none", previous[1])
            spans.setdefault(key, []).append((at - previous[2]).total_seconds())
        if previous is None or previous[0] != job_id or previous[1] != phase:
            previous = (job_id, phase, at)
    return {key: sum(v) / len(v) for key, v in spans.items()}
