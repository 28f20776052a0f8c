"""A route plan reordered by a strategy, with the reason for each candidate's place.

Routing (``routing.plan_route``) decides *which* models can serve a request; a strategy decides
the order they are tried in. Everything a strategy weighs comes in as plain data: the quotes on
the plan, the catalogue's lifecycle and tier on each model, and the live figures the engine
measured (``ModelFigures``: the median generation time and the success count of each model's
recent attempts). Nothing here reads a database or a clock.

A caller's own provider order (``providers=[…]``, or ``model="runway"``) is a preference every
strategy keeps: the strategy orders the models within each preferred provider, and the
providers the caller did not name after them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from .catalog import LifecycleStage, ModelProfile
from .catalog.schema import TIERS
from .priority.model import Strategy
from .routing import Candidate, RoutePlan
from .types import VideoRequest

__all__ = ["ModelFigures", "explain", "follow", "median", "rank", "summary"]

_STAGES = {
    LifecycleStage.GA: 0,
    LifecycleStage.PREVIEW: 1,
    LifecycleStage.DEPRECATED: 2,
    LifecycleStage.RETIRED: 3,
}
_TIERS = {tier: i for i, tier in enumerate(TIERS)}
#: A model with no recent attempts counts as this likely to succeed (the smoothed rate of
#: zero out of zero), so one bad run does not bury a model and no runs does not crown one.
_PRIOR = (1, 2)


@dataclass(frozen=True)
class ModelFigures:
    """What the engine measured of one model's recent attempts."""

    #: Successful attempts measured, and their median seconds from create call to end.
    runs: int = 0
    p50_seconds: float | None = None
    #: Attempts that ended for the provider's reasons (succeeded, or failed other than by the
    #: caller's mistake or moderation), and how many of them succeeded.
    ended: int = 0
    succeeded: int = 0

    @property
    def success_rate(self) -> float:
        """Smoothed: ``(succeeded + 1) / (ended + 2)``."""
        return (self.succeeded + _PRIOR[0]) / (self.ended + _PRIOR[1])


def median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


def rank(
    plan: RoutePlan,
    strategy: Strategy,
    request: VideoRequest,
    figures: Mapping[str, ModelFigures] | None = None,
    *,
    today: date | None = None,
) -> RoutePlan:
    """``plan`` with its candidates in ``strategy``'s order and a reason for each place."""
    today = today or date.today()
    figures = figures or {}
    preference = _preference(request, plan.candidates)
    key, why = _STRATEGIES[strategy](plan.candidates, figures, today)
    ordered = sorted(
        plan.candidates,
        key=lambda c: (preference.get(c.model.provider, len(preference)), *key(c)),
    )
    reasons: dict[str, str] = {}
    for place, candidate in enumerate(ordered, start=1):
        said = why(candidate, ordered)
        named = preference.get(candidate.model.provider)
        if named is not None:
            said = f"{candidate.model.provider} is the request's choice #{named + 1}; {said}"
        reasons[candidate.ref] = f"#{place}: {said}"
    return replace(plan, candidates=ordered, strategy=strategy.value, reasons=reasons)


def follow(plan: RoutePlan, order: Sequence[str], reasons: Mapping[str, str]) -> RoutePlan:
    """``plan`` (as a worker re-planned it, ranked afresh) in the order admission decided:
    the candidates admission ranked keep their places and reasons, so the chain the budget
    reserved for is the chain that runs; one admission did not know follows, as ranked now."""
    known = {ref: i for i, ref in enumerate(order)}
    ordered = sorted(
        plan.candidates,
        key=lambda c: (0, known[c.ref]) if c.ref in known else (1, 0),
    )
    kept: dict[str, str] = {}
    for c in ordered:
        now = plan.reasons.get(c.ref, "")
        kept[c.ref] = reasons.get(c.ref, now) if c.ref in known else f"{now} (new since admission)"
    return replace(plan, candidates=ordered, reasons=kept)


def explain(plan: RoutePlan) -> list[dict[str, Any]]:
    """The ranking as the job and the estimate show it: each candidate in order, with why."""
    return [
        {
            "model": c.ref,
            "rank": i,
            "usd": c.quote.usd if c.quote else None,
            "why": plan.reasons.get(c.ref, ""),
        }
        for i, c in enumerate(plan.candidates, start=1)
    ]


def summary(plan: RoutePlan) -> dict[str, Any]:
    """The job's priority, the strategy and where it came from, and the ranking: what the job,
    ``vidgate jobs show`` and every estimate show."""
    return {
        "priority": plan.priority,
        "strategy": plan.strategy,
        "strategy_from": plan.strategy_from,
        "ranking": explain(plan),
    }


def _preference(request: VideoRequest, candidates: Sequence[Candidate]) -> dict[str, int]:
    """The providers the request named, in its order (``model`` given as a provider first):
    only when it names more than one provider among the candidates is there an order to keep
    (a single named provider is a filter, which routing already applied)."""
    wanted = list(request.providers)
    if request.model and ":" not in request.model:
        wanted = [request.model, *[p for p in wanted if p != request.model]]
    present = {c.model.provider for c in candidates}
    named = [p for p in dict.fromkeys(wanted) if p in present]
    if len(named) < 2:
        return {}
    return {provider: i for i, provider in enumerate(named)}


Key = Callable[[Candidate], tuple[Any, ...]]
Why = Callable[[Candidate, list[Candidate]], str]


def _usd(candidate: Candidate) -> float:
    return candidate.quote.usd if candidate.quote else float("inf")


def _price(candidate: Candidate) -> str:
    return f"${candidate.quote.usd:.2f}" if candidate.quote else "no price for this request"


def _stage(model: ModelProfile, today: date) -> LifecycleStage:
    return model.lifecycle.stage_on(today)


def _preferred(
    candidates: Sequence[Candidate], figures: Mapping[str, ModelFigures], today: date
) -> tuple[Key, Why]:
    def key(c: Candidate) -> tuple[Any, ...]:
        return (_STAGES[_stage(c.model, today)], _usd(c))

    def why(c: Candidate, ordered: list[Candidate]) -> str:
        return f"{_stage(c.model, today).value}, {_price(c)} (GA before preview, then price)"

    return key, why


def _cheapest(
    candidates: Sequence[Candidate], figures: Mapping[str, ModelFigures], today: date
) -> tuple[Key, Why]:
    def key(c: Candidate) -> tuple[Any, ...]:
        return (_usd(c), _STAGES[_stage(c.model, today)], c.ref)

    def why(c: Candidate, ordered: list[Candidate]) -> str:
        if c.quote is None:
            return "no price for this request, so after every priced model"
        low = min(_usd(o) for o in ordered)
        if c.quote.usd <= low:
            first = next((o for o in ordered if o.quote is not None), None)
            if first is not None and first is not c:
                return f"{_price(c)}, as cheap as {first.ref} (tied; ordered by stage and name)"
            return f"{_price(c)}, the cheapest capable model"
        return f"{_price(c)}, ${c.quote.usd - low:.2f} more than the cheapest"

    return key, why


def _fastest(
    candidates: Sequence[Candidate], figures: Mapping[str, ModelFigures], today: date
) -> tuple[Key, Why]:
    def key(c: Candidate) -> tuple[Any, ...]:
        p50 = figures.get(c.ref, ModelFigures()).p50_seconds
        return (p50 is None, p50 or 0.0, _usd(c), c.ref)

    def why(c: Candidate, ordered: list[Candidate]) -> str:
        found = figures.get(c.ref, ModelFigures())
        if found.p50_seconds is None:
            return f"no measured generation time yet, so after the measured models; {_price(c)}"
        return (
            f"p50 {found.p50_seconds:.1f} s over {found.runs} recent successful "
            f"run{'s' if found.runs != 1 else ''}"
        )

    return key, why


def _quality(
    candidates: Sequence[Candidate], figures: Mapping[str, ModelFigures], today: date
) -> tuple[Key, Why]:
    def key(c: Candidate) -> tuple[Any, ...]:
        return (_TIERS[c.model.tier], _STAGES[_stage(c.model, today)], _usd(c), c.ref)

    def why(c: Candidate, ordered: list[Candidate]) -> str:
        return f"tier {c.model.tier}, {_stage(c.model, today).value}, {_price(c)}"

    return key, why


def _reliable(
    candidates: Sequence[Candidate], figures: Mapping[str, ModelFigures], today: date
) -> tuple[Key, Why]:
    def key(c: Candidate) -> tuple[Any, ...]:
        found = figures.get(c.ref, ModelFigures())
        return (
            -found.success_rate,
            _STAGES[_stage(c.model, today)],
            _TIERS[c.model.tier],
            _usd(c),
            c.ref,
        )

    def why(c: Candidate, ordered: list[Candidate]) -> str:
        found = figures.get(c.ref, ModelFigures())
        stage = _stage(c.model, today).value
        if found.ended == 0:
            return (
                f"no recent attempts (counted as {found.success_rate:.0%} likely to succeed), "
                f"{stage}, tier {c.model.tier}"
            )
        return (
            f"{found.succeeded} of {found.ended} recent attempts succeeded "
            f"({found.success_rate:.0%} smoothed), {stage}, tier {c.model.tier}"
        )

    return key, why


_STRATEGIES: dict[
    Strategy,
    Callable[[Sequence[Candidate], Mapping[str, ModelFigures], date], tuple[Key, Why]],
] = {
    Strategy.PREFERRED: _preferred,
    Strategy.CHEAPEST: _cheapest,
    Strategy.FASTEST: _fastest,
    Strategy.QUALITY: _quality,
    Strategy.RELIABLE: _reliable,
}
