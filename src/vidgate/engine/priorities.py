"""A job's priority and strategy, decided at admission, and the plain data the ranking weighs.

Admission (``Engine.resolve``) decides the priority (the request's, else its tenant's default,
else ``VIDGATE_DEFAULT_PRIORITY``) and the strategy (the request's, else the one its tenant set
for that priority, else ``VIDGATE_STRATEGIES``), ranks the plan with ``ranking``, and
records all of it on the job (``routing``). The worker's route step re-plans (its keys may
differ) and keeps admission's order (``ranking.follow``), so the chain the budget
reserved for is the chain that runs.

Live figures come from the ``attempts`` table: per model, its last ``VIDGATE_FIGURES_WINDOW``
ended attempts give the median seconds from create call to end of the successful ones (the
``fastest`` strategy's p50) and the success count (``reliable``). They are read only for the
strategies that weigh them, and reused for ``VIDGATE_FIGURES_TTL`` seconds per process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc
from ..db import attempts
from ..priority.model import Priority, Strategy, parse_strategies, strategy_for
from ..ranking import ModelFigures, follow, median, rank, summary
from ..routing import RoutePlan
from ..settings import Settings
from ..types import AttemptStatus, Job, Outcome, VideoRequest
from .tenant_view import TenantView

__all__ = ["Decision", "decide", "live_figures", "ranked", "rerank", "routing_record"]

#: Strategies that weigh measured figures (the others cost no read).
_MEASURED = {Strategy.FASTEST, Strategy.RELIABLE}
#: Failures that say nothing about a model's reliability.
_NOT_THE_MODELS = {Outcome.USER_ERROR.value, Outcome.CONTENT_REJECTED.value}


@dataclass(frozen=True)
class Decision:
    """A job's priority and strategy, and where the strategy came from."""

    priority: Priority
    strategy: Strategy
    source: str


def decide(
    settings: Settings, request: VideoRequest, tenant: TenantView
) -> tuple[VideoRequest, Decision]:
    """The request with its priority filled in, and the job's priority and strategy."""
    own_priority = tenant.default_priority
    try:
        own = parse_strategies(tenant.strategies)
    except ValueError:
        own = {}  # written through the validated door; a hand-edited row is ignored
    if request.priority is not None:
        priority = request.priority
    elif own_priority in {p.value for p in Priority}:
        priority = Priority(own_priority)
    else:
        priority = settings.default_priority
    if request.strategy is not None:
        strategy, source = request.strategy, "the request"
    else:
        strategy, source = strategy_for(priority, own, settings.strategies)
    if request.priority is not priority:
        request = request.model_copy(update={"priority": priority})
    return request, Decision(priority, strategy, f"{strategy.value} for {priority.value}: {source}")


def ranked(
    settings: Settings,
    engine: sa.Engine,
    plan: RoutePlan,
    request: VideoRequest,
    decision: Decision,
) -> RoutePlan:
    """``plan`` in the decided strategy's order, each place explained."""
    figures = live_figures(settings, engine) if decision.strategy in _MEASURED else {}
    done = rank(plan, decision.strategy, request, figures)
    return replace(done, priority=decision.priority.value, strategy_from=decision.source)


def rerank(settings: Settings, engine: sa.Engine, plan: RoutePlan, job: Job) -> RoutePlan:
    """The worker's plan in the order admission decided (``job.routing``). A job admitted
    before strategies existed keeps routing's own order."""
    admitted = job.routing or {}
    chosen = admitted.get("strategy")
    if chosen not in {s.value for s in Strategy}:
        return plan
    decision = Decision(Priority(job.request.priority or Priority.STANDARD), Strategy(chosen), "")
    fresh = ranked(settings, engine, plan, job.request, decision)
    fresh = replace(fresh, strategy_from=admitted.get("strategy_from"))
    order = [str(x.get("model")) for x in admitted.get("ranking") or () if isinstance(x, dict)]
    reasons = {
        str(x.get("model")): str(x.get("why", ""))
        for x in admitted.get("ranking") or ()
        if isinstance(x, dict)
    }
    return follow(fresh, order, reasons)


def routing_record(plan: RoutePlan) -> dict[str, Any]:
    """What the job shows of its routing: candidates in order, why each is where it is, the
    priority and strategy (and where the strategy came from), why other models were not used."""
    return {
        "candidates": [c.ref for c in plan.candidates],
        "skipped": plan.skipped,
        **summary(plan),
    }


# -- live figures ---------------------------------------------------------------------------

_cache: dict[str, tuple[float, dict[str, ModelFigures]]] = {}
_cache_lock = threading.Lock()


def live_figures(settings: Settings, engine: sa.Engine) -> dict[str, ModelFigures]:
    """``provider:model`` → its recent attempts' figures (cached per database for
    ``VIDGATE_FIGURES_TTL`` seconds)."""
    key = str(engine.url)
    now = time.monotonic()
    with _cache_lock:
        found = _cache.get(key)
        if found is not None and found[0] > now:
            return found[1]
    figures = _read_figures(engine, settings.figures_window)
    with _cache_lock:
        _cache[key] = (now + settings.figures_ttl, figures)
    return figures


def _read_figures(engine: sa.Engine, window: int) -> dict[str, ModelFigures]:
    ended = (AttemptStatus.SUCCEEDED.value, AttemptStatus.FAILED.value)
    place = (
        sa.func.row_number()
        .over(
            partition_by=(attempts.c.provider, attempts.c.model),
            order_by=attempts.c.finished_at.desc(),
        )
        .label("place")
    )
    recent = (
        sa.select(
            attempts.c.provider,
            attempts.c.model,
            attempts.c.status,
            attempts.c.outcome,
            attempts.c.submitted_at,
            attempts.c.finished_at,
            place,
        )
        .where(attempts.c.status.in_(ended), attempts.c.finished_at.is_not(None))
        .subquery()
    )
    query = sa.select(recent).where(recent.c.place <= window)
    seconds: dict[str, list[float]] = {}
    counts: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            ref = f"{row.provider}:{row.model}"
            ok = row.status == AttemptStatus.SUCCEEDED.value
            if not ok and row.outcome in _NOT_THE_MODELS:
                continue
            tally = counts.setdefault(ref, [0, 0])
            tally[0] += 1
            tally[1] += int(ok)
            start, end = as_utc(row.submitted_at), as_utc(row.finished_at)
            if ok and start is not None and end is not None:
                seconds.setdefault(ref, []).append((end - start).total_seconds())
    return {
        ref: ModelFigures(
            runs=len(seconds.get(ref, ())),
            p50_seconds=median(seconds.get(ref, ())),
            ended=tally[0],
            succeeded=tally[1],
        )
        for ref, tally in counts.items()
    }


def forget_figures() -> None:
    """Drop the cached figures (tests that measure afresh)."""
    with _cache_lock:
        _cache.clear()
