"""Routing: which models can serve a request, in what order, and why the others cannot.

The rules, in order:

1. An explicit ``provider:model`` is the only candidate. If it is retired, unsupported for the
   request, or its provider has no key, routing fails before anything is spent, naming the
   retirement date, what the model allows and which models could do it, or the variable to set.
   ``VIDGATE_ALLOW_RETIRED`` (comma-separated providers or ``provider:model`` ids) lets an
   explicit request reach a retired model, e.g. to run the Sora adapter against the simulator.
2. An explicit provider (``model="runway"`` or ``providers=[...]``) limits the candidates to its
   models.
3. Otherwise every model of every provider that has an adapter and a key is a candidate, minus
   retired models and those that cannot serve the request, ordered by the caller's provider
   preference, then lifecycle (GA before preview before deprecated), then list price.
4. ``simulated`` is a candidate only when asked for, or when no provider key is set at all:
   a real job never falls back to synthetic output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from .catalog import Catalog, LifecycleStage, ModelProfile, quote, violations
from .exceptions import (
    MissingCredentials,
    ModelRetired,
    UnsupportedRequest,
    VidgateError,
)
from .providers.registry import provider_classes
from .settings import Settings
from .types import CostQuote, VideoRequest

__all__ = ["Candidate", "RoutePlan", "plan_route", "plan_with_defaults", "shortest_duration"]

SIMULATED = "simulated"
_STAGE_ORDER = {
    LifecycleStage.GA: 0,
    LifecycleStage.PREVIEW: 1,
    LifecycleStage.DEPRECATED: 2,
    LifecycleStage.RETIRED: 3,
}


@dataclass(frozen=True)
class Candidate:
    model: ModelProfile
    quote: CostQuote | None

    @property
    def ref(self) -> str:
        return self.model.ref


@dataclass(frozen=True)
class RoutePlan:
    candidates: list[Candidate]
    #: ``provider:model`` → why it was not chosen.
    skipped: dict[str, str] = field(default_factory=dict)
    #: Something the user should hear once (e.g. that the offline provider was chosen).
    notice: str | None = None
    #: A default admission decided for the caller (the duration), for the job's history.
    picked: str | None = None
    #: The strategy that ordered the candidates (``ranking``; None: routing's own
    #: order), and why each candidate is where it is, in order.
    strategy: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    #: The job's priority and where its strategy came from (set by the engine's admission).
    priority: str | None = None
    strategy_from: str | None = None

    @property
    def first(self) -> Candidate:
        return self.candidates[0]


def plan_route(
    request: VideoRequest,
    catalog: Catalog,
    *,
    today: date | None = None,
    environ: Mapping[str, str] | None = None,
) -> RoutePlan:
    """Order the models that can serve ``request``; raise a precise error if none can."""
    today = today or date.today()
    adapters = provider_classes()
    configured = {name for name, cls in adapters.items() if cls.configured(environ)}
    real_configured = configured - {SIMULATED}

    if request.model and ":" in request.model:
        raw = Settings().allow_retired if environ is None else environ.get("VIDGATE_ALLOW_RETIRED")
        allowed = {x.strip() for x in (raw or "").split(",") if x.strip()}
        return _explicit_model(request, catalog, today, configured, allowed, environ)

    wanted = list(request.providers)
    if request.model:
        wanted = [request.model, *[p for p in wanted if p != request.model]]
    for name in wanted:
        catalog.provider(name)  # unknown provider names fail loudly, with a suggestion
    notice = None
    if wanted:
        pool = wanted
        missing = [p for p in wanted if p not in configured and p in adapters]
        if missing and len(missing) == len(wanted):
            cls = adapters[missing[0]]
            raise MissingCredentials(missing[0], cls.env_keys())
    elif real_configured:
        pool = sorted(real_configured)
    else:
        pool = [SIMULATED]
        notice = "no provider API key is set, so the offline 'simulated' provider renders this job"

    candidates: list[Candidate] = []
    skipped: dict[str, str] = {}
    for provider_name in pool:
        profile = catalog.provider(provider_name)
        for model in profile.models:
            reason = _unusable(model, request, today, adapters, configured)
            if reason:
                skipped[model.ref] = reason
                continue
            candidates.append(Candidate(model, quote(model, request)))

    if not candidates:
        alternatives = _alternatives(request, catalog, today)
        raise UnsupportedRequest(
            _none_fit_message(pool, skipped, _with_keys(alternatives, environ)),
            details={"skipped": skipped, "alternatives": [m.ref for m in alternatives]},
        )
    rank = {name: i for i, name in enumerate(wanted)}
    candidates.sort(
        key=lambda c: (
            rank.get(c.model.provider, len(rank)),
            _STAGE_ORDER[c.model.lifecycle.stage_on(today)],
            c.quote.usd if c.quote else float("inf"),
        )
    )
    return RoutePlan(candidates=candidates, skipped=skipped, notice=notice)


def plan_with_defaults(
    request: VideoRequest,
    catalog: Catalog,
    plan: Callable[[VideoRequest], RoutePlan],
    default_duration: float = 5.0,
) -> tuple[VideoRequest, RoutePlan]:
    """The request as it will run, and its plan: the one place that decides the defaults a
    caller left unset, for create and estimate alike. ``plan`` is the planner to use
    (``Engine.plan``: input checks, then ``plan_route``).

    A request that sets no duration gets ``default_duration`` (``VIDGATE_DEFAULT_DURATION``,
    5 s) when a model offers it; else the shortest duration the first model that can then
    serve it (in routing's pool) offers at or above the default — never its longest, which
    costs the most — or, if it offers nothing that long, its longest below the default. The
    plan's ``notice`` says which was picked. Anything else the plan refuses is raised as it
    is."""
    if "duration" in request.model_fields_set:
        return request, plan(request)
    asked = request.model_copy(update={"duration": default_duration})
    try:
        return asked, plan(asked)
    except UnsupportedRequest:
        for model in _pool_models(request, catalog):
            seconds = shortest_duration(model, default_duration)
            candidate = request.model_copy(update={"duration": seconds})
            if violations(model, candidate):
                continue
            try:
                chosen = plan(candidate)
            except VidgateError:
                continue
            picked = (
                f"no duration was set: {seconds:g} s, the shortest {model.ref} offers at or "
                f"above {default_duration:g} s"
                if seconds >= default_duration
                else f"no duration was set: {seconds:g} s, the longest {model.ref} offers "
                f"(nothing reaches {default_duration:g} s)"
            )
            notice = f"{chosen.notice}; {picked}" if chosen.notice else picked
            return candidate, replace(chosen, notice=notice, picked=picked)
        raise


def shortest_duration(model: ModelProfile, at_least: float) -> float:
    """The shortest duration ``model`` offers at or above ``at_least`` seconds; if it offers
    none that long, its longest."""
    if model.durations is not None:
        offered = sorted(model.durations)
        return next((d for d in offered if d >= at_least - 1e-9), offered[-1])
    assert model.duration_range is not None
    span = model.duration_range
    if at_least <= span.min:
        return span.min
    if at_least >= span.max:
        return span.max
    steps = math.ceil((at_least - span.min) / span.step - 1e-9)
    return min(span.min + steps * span.step, span.max)


def _pool_models(request: VideoRequest, catalog: Catalog) -> list[ModelProfile]:
    """The catalogue models a request may be routed to by its model and providers fields."""
    wanted = set(request.providers)
    if request.model:
        wanted.add(request.model.split(":", 1)[0])
    return [
        model
        for model in catalog
        if not (request.model and ":" in request.model and model.ref != request.model)
        and not (wanted and model.provider not in wanted)
    ]


def _explicit_model(
    request: VideoRequest,
    catalog: Catalog,
    today: date,
    configured: set[str],
    allow_retired: set[str],
    environ: Mapping[str, str] | None,
) -> RoutePlan:
    assert request.model is not None
    model = catalog.get(request.model)
    if not allow_retired & {model.ref, model.provider}:
        _raise_if_retired(model, today)
    problems = violations(model, request)
    if problems:
        alternatives = _alternatives(request, catalog, today)
        shown = _with_keys(alternatives, environ)
        also = f" Models that can: {', '.join(shown)}." if shown else ""
        raise UnsupportedRequest(
            f"{model.ref} cannot render this request: {'; '.join(problems)}.{also}",
            details={
                "model": model.ref,
                "problems": problems,
                "alternatives": [m.ref for m in alternatives],
            },
        )
    adapters = provider_classes()
    if model.provider not in adapters:
        raise UnsupportedRequest(
            f"{model.ref} is in the catalogue, but no adapter for provider "
            f"{model.provider!r} is installed yet",
            details={"model": model.ref},
        )
    if model.provider not in configured:
        raise MissingCredentials(model.provider, adapters[model.provider].env_keys())
    return RoutePlan(candidates=[Candidate(model, quote(model, request))])


def _raise_if_retired(model: ModelProfile, today: date) -> None:
    if model.lifecycle.stage_on(today) is not LifecycleStage.RETIRED:
        return
    when = model.lifecycle.retires_on
    since = f" on {when.isoformat()}" if when else ""
    instead = f"; use {model.lifecycle.replacement} instead" if model.lifecycle.replacement else ""
    note = f" ({model.lifecycle.note})" if model.lifecycle.note else ""
    raise ModelRetired(
        f"{model.ref} was retired{since}{instead}{note}",
        details={"model": model.ref, "retired_on": when.isoformat() if when else None},
    )


def _unusable(
    model: ModelProfile,
    request: VideoRequest,
    today: date,
    adapters: Mapping[str, object],
    configured: set[str],
) -> str | None:
    stage = model.lifecycle.stage_on(today)
    if stage is LifecycleStage.RETIRED:
        when = model.lifecycle.retires_on
        return f"retired{f' on {when.isoformat()}' if when else ''}"
    if model.provider not in adapters:
        return "no adapter installed for this provider yet"
    if model.provider not in configured:
        return "no API key configured"
    problems = violations(model, request)
    if problems:
        return "; ".join(problems)
    return None


def _alternatives(request: VideoRequest, catalog: Catalog, today: date) -> list[ModelProfile]:
    """Every non-retired model in the catalogue that could render the request, configured or
    not. A duration the caller did not choose may be any the model offers."""
    return [
        m
        for m in catalog
        if m.lifecycle.stage_on(today) is not LifecycleStage.RETIRED and _could(m, request)
    ]


def _could(model: ModelProfile, request: VideoRequest) -> bool:
    if not violations(model, request):
        return True
    if "duration" in request.model_fields_set:
        return False
    durations = [model.default_duration, *(model.durations or [])]
    return any(not violations(model, request.model_copy(update={"duration": d})) for d in durations)


def _with_keys(models: list[ModelProfile], environ: Mapping[str, str] | None) -> list[str]:
    """``provider:model``, with what a model still needs to be used: its key, or an adapter."""
    adapters = provider_classes()
    shown = []
    for model in models:
        cls = adapters.get(model.provider)
        if cls is None:
            shown.append(f"{model.ref} (no adapter installed)")
        elif not cls.configured(environ):
            keys = cls.env_keys()
            needs = f"set {' or '.join(keys)}" if keys else "not configured"
            shown.append(f"{model.ref} ({needs})")
        else:
            shown.append(model.ref)
    return shown


def _none_fit_message(pool: list[str], skipped: dict[str, str], alternatives: list[str]) -> str:
    lines = [f"no model of {', '.join(pool)} can render this request:"]
    lines += [f"  {ref}: {why}" for ref, why in skipped.items()]
    if alternatives:
        lines.append(f"Models that can: {', '.join(alternatives)}.")
    return "\n".join(lines)
