"""Estimates before anything is spent: every model's price for a request, why the others cannot
serve it, and what a volume of such requests would cost per day or month.

The request and plan are the ones create would use (``Engine.resolve``), so an estimate always
says what create would do with the same body.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

from ..catalog import Catalog, LifecycleStage, ModelProfile, quote, violations
from ..providers.registry import provider_classes
from ..routing import RoutePlan
from ..types import CostBasis, VideoRequest

__all__ = ["ModelEstimate", "Projection", "estimate_models", "project"]

Period = Literal["day", "month"]

#: A month, for projections: 30 days.
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class ModelEstimate:
    """One model's answer to a request: its price (with basis and status) or why it cannot."""

    model: str
    chosen: bool
    usable: bool
    usd: float | None = None
    basis: str = CostBasis.ESTIMATED.value
    how: str | None = None
    status: str | None = None
    source: str | None = None
    source_url: str | None = None
    as_of: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Projection:
    """The spend for ``count`` requests like this one per ``per``."""

    count: int
    per: Period
    usd_each: float
    usd_per_day: float
    usd_per_month: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_models(
    request: VideoRequest, plan: RoutePlan, catalog: Catalog
) -> list[ModelEstimate]:
    """Every catalogue model for ``request``: first the candidates in the order create would try
    them (the first is ``chosen``), then the capable models it would not use (and why), then
    the models that cannot serve it (and why)."""
    rows = [_priced(c.model, request, chosen=i == 0) for i, c in enumerate(plan.candidates)]
    seen = {c.ref for c in plan.candidates}
    unable: list[ModelEstimate] = []
    for model in catalog:
        if model.ref in seen:
            continue
        problems = violations(model, request)
        if problems:
            unable.append(
                ModelEstimate(model.ref, False, False, reason="cannot: " + "; ".join(problems))
            )
            continue
        reason = plan.skipped.get(model.ref) or _why_not_routed(model, catalog)
        row = _priced(model, request, chosen=False)
        rows.append(ModelEstimate(**{**row.as_dict(), "usable": False, "reason": reason}))
    return rows + unable


def _why_not_routed(model: ModelProfile, catalog: Catalog) -> str:
    if model.lifecycle.stage_on(date.today()) is LifecycleStage.RETIRED:
        return "retired"
    adapter = provider_classes().get(model.provider)
    if adapter is None:
        return f"no adapter for {model.provider} is installed"
    if not adapter.configured():
        keys = catalog.provider(model.provider).env_keys
        return f"{model.provider} is not set up (set {' or '.join(keys)})"
    return "not in this route (the request names other providers or models)"


def _priced(model: ModelProfile, request: VideoRequest, *, chosen: bool) -> ModelEstimate:
    priced = quote(model, request)
    if priced is None:
        return ModelEstimate(
            model.ref, chosen, True, reason="no price is known for these parameters"
        )
    return ModelEstimate(
        model=model.ref,
        chosen=chosen,
        usable=True,
        usd=priced.usd,
        how=priced.basis,
        status=priced.status,
        source=priced.source,
        source_url=priced.source_url,
        as_of=priced.as_of,
    )


def project(usd_each: float, count: int, per: Period) -> Projection:
    """``count`` requests at ``usd_each`` every ``per``: the spend per day and per month."""
    if count < 0:
        raise ValueError("count must not be negative")
    per_day = usd_each * count if per == "day" else usd_each * count / DAYS_PER_MONTH
    per_month = per_day * DAYS_PER_MONTH if per == "day" else usd_each * count
    return Projection(
        count=count,
        per=per,
        usd_each=round(usd_each, 4),
        usd_per_day=round(per_day, 2),
        usd_per_month=round(per_month, 2),
    )
