"""The names: a request's priority, routing's strategies, and which strategy each priority uses.

Imports nothing of vidgate's, so ``types`` (a request carries its priority and strategy) and
``settings`` (the default map) build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "DEFAULT_STRATEGIES",
    "Priority",
    "Strategy",
    "parse_strategies",
    "strategy_for",
]


class Priority(StrEnum):
    """How much a job matters: ``critical`` work goes to the most reliable model,
    ``standard`` and ``batch`` to the cheapest; ``batch`` also waits for the off-peak window
    (``VIDGATE_BATCH_WINDOW``)."""

    CRITICAL = "critical"
    STANDARD = "standard"
    BATCH = "batch"


class Strategy(StrEnum):
    """How routing orders the models that can serve a request."""

    #: The caller's provider order, then GA before preview, then list price (vidgate's order
    #: before strategies existed).
    PREFERRED = "preferred"
    #: The lowest quote first.
    CHEAPEST = "cheapest"
    #: The lowest measured median generation time (p50 of recent successful attempts) first;
    #: models without measurements after, by price.
    FASTEST = "fastest"
    #: The catalogue's quality tier (premium, standard, economy) first, then lifecycle, price.
    QUALITY = "quality"
    #: The highest measured success rate of recent attempts first, then lifecycle, tier.
    RELIABLE = "reliable"


#: Which strategy each priority uses when neither the request nor its tenant says.
DEFAULT_STRATEGIES: dict[Priority, Strategy] = {
    Priority.CRITICAL: Strategy.RELIABLE,
    Priority.STANDARD: Strategy.CHEAPEST,
    Priority.BATCH: Strategy.CHEAPEST,
}


def parse_strategies(value: Mapping[str, str] | str | None) -> dict[Priority, Strategy]:
    """``{"batch": "cheapest"}`` or ``"batch=cheapest,critical=reliable"`` → the map, each
    name checked. Raises ``ValueError`` naming what is wrong (the callers turn it into their own
    error: a settings error, a 400)."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs: list[tuple[str, str]] = []
        for item in value.split(","):
            if not item.strip():
                continue
            name, sep, chosen = item.partition("=")
            if not sep:
                raise ValueError(f"strategies look like batch=cheapest, not {item.strip()!r}")
            pairs.append((name.strip(), chosen.strip()))
    elif isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        raise ValueError("strategies are an object of priority → strategy")
    found: dict[Priority, Strategy] = {}
    for name, chosen in pairs:
        if name not in {p.value for p in Priority}:
            raise ValueError(
                f"unknown priority {name[:32]!r}; "
                f"priorities: {', '.join(p.value for p in Priority)}"
            )
        if not isinstance(chosen, str) or chosen not in {s.value for s in Strategy}:
            raise ValueError(
                f"unknown strategy {str(chosen)[:32]!r} for {name}; strategies: "
                f"{', '.join(s.value for s in Strategy)}"
            )
        found[Priority(name)] = Strategy(chosen)
    return found


def strategy_for(
    priority: Priority,
    tenant: Mapping[Priority, Strategy],
    defaults: Mapping[Priority, Strategy],
) -> tuple[Strategy, str]:
    """The strategy a priority uses and where that came from: the tenant's map, else the
    configured defaults (``VIDGATE_STRATEGIES``), else vidgate's."""
    if priority in tenant:
        return tenant[priority], "the tenant's setting"
    if priority in defaults:
        return defaults[priority], "the default (VIDGATE_STRATEGIES)"
    return DEFAULT_STRATEGIES[priority], "vidgate's default"
