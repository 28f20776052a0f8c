"""Faults on demand: per request (a header or a prompt marker) or as a global profile of rates.

Per request, name faults in the ``X-Simulator-Fault`` header (official SDKs pass it through
``extra_headers``) or in the prompt as ``[sim:429]`` / ``[sim:fail,slow]``. A fault may take a
value: ``moderation-after=3`` (seconds), ``retry-after=2`` (seconds), ``webhook-late=5``.
Faults given at create time stay with the task, so a create marked ``500-poll`` makes that
task's first status checks fail.

A global profile gives each fault a probability per request, e.g. ``{"500-poll": 0.1,
"429": 0.05}`` (``vidgate simulator --faults``); draws use a seeded RNG, so runs repeat.

The names, grouped by where they act:

- create: ``429`` (with Retry-After), ``429-no-retry-after``, ``500-create`` (nothing created),
  ``500-after-create`` (task created, then a 500: an ambiguous failure), ``moderation``
  (rejected at submit), ``no-credits``, ``auth`` (401), ``invalid`` (400)
- generation: ``slow`` (5x latency), ``hang`` (never finishes), ``fail`` (async failure),
  ``moderation-after=N`` (rejected after N seconds), ``throttled`` (waits in a throttled state)
- status: ``500-poll`` (the first two status checks answer 500)
- output: ``500-download`` (the first download answers 500), ``expired-url``,
  ``missing-output``, ``truncated``, ``corrupt``, ``wrong-duration``, ``wrong-aspect``
- webhooks: ``webhook-drop``, ``webhook-duplicate``, ``webhook-late=N``, ``webhook-forged``
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "CREATE_STAGE",
    "DRAWABLE",
    "FAULTS",
    "FAULT_HEADER",
    "WEBHOOK_FAULTS",
    "FaultProfile",
    "Faults",
    "drawable",
    "parse_faults",
]

FAULT_HEADER = "x-simulator-fault"

#: The faults a global profile may draw, by where they act (see above). A request draws them
#: in ``DRAWABLE``'s order, which consumes the seeded RNG: keep it. ``retry-after`` only
#: qualifies ``429``, so it is never drawn.
CREATE_STAGE: tuple[str, ...] = (
    "auth",
    "invalid",
    "no-credits",
    "429",
    "429-no-retry-after",
    "500-create",
    "500-after-create",
    "moderation",
)
_GENERATION = ("moderation-after", "slow", "hang", "fail", "throttled")
_STATUS_AND_OUTPUT = ("500-poll", "500-download", "expired-url", "missing-output", "truncated")
_OUTPUT = ("corrupt", "wrong-duration", "wrong-aspect")
WEBHOOK_FAULTS = ("webhook-drop", "webhook-duplicate", "webhook-late", "webhook-forged")
DRAWABLE = (*CREATE_STAGE, *_GENERATION, *_STATUS_AND_OUTPUT, *_OUTPUT, *WEBHOOK_FAULTS)
FAULTS = frozenset({*DRAWABLE, "retry-after"})
_MARKER = re.compile(r"\[sim:([^\]]+)\]")


class UnknownFault(ValueError):
    pass


@dataclass(frozen=True)
class Faults:
    """A set of named faults, some with a numeric value."""

    values: Mapping[str, float | None] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def value(self, name: str, default: float) -> float:
        found = self.values.get(name)
        return default if found is None else found

    def merged(self, other: Faults) -> Faults:
        return Faults({**self.values, **other.values})

    def names(self) -> list[str]:
        return sorted(self.values)


def drawable(exclude: Iterable[str] = (), *, webhooks: bool = True) -> list[str]:
    """The faults a twin's requests may draw from the global profile, in drawing order: all of
    them but those the twin cannot express (``exclude``, which must name known faults), and
    without the webhook faults where its provider sends no webhooks."""
    skip = frozenset(exclude)
    unknown = skip - FAULTS
    if unknown:
        raise UnknownFault(f"unknown simulator fault(s): {', '.join(sorted(unknown))}")
    if not webhooks:
        skip |= frozenset(WEBHOOK_FAULTS)
    return [name for name in DRAWABLE if name not in skip]


def _parse_items(items: Iterable[str]) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, _, raw = item.partition("=")
        name = name.strip()
        if name not in FAULTS:
            raise UnknownFault(
                f"unknown simulator fault {name!r}; known: {', '.join(sorted(FAULTS))}"
            )
        found[name] = float(raw) if raw.strip() else None
    return found


def parse_faults(header: str | None = None, prompt: str | None = None) -> Faults:
    """Faults named in a request's header and its prompt's ``[sim:…]`` markers."""
    items: list[str] = []
    if header:
        items += header.split(",")
    if prompt:
        for marker in _MARKER.findall(prompt):
            items += marker.split(",")
    return Faults(_parse_items(items))


def strip_markers(prompt: str) -> str:
    """The prompt without its ``[sim:…]`` markers (what the video shows)."""
    return _MARKER.sub("", prompt).strip() or prompt


@dataclass
class FaultProfile:
    """Global fault rates: each request draws each fault with its probability."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        _parse_items(self.rates)  # validates the names
        self._rng = random.Random(self.seed)

    def draw(self, names: Iterable[str]) -> Faults:
        """Faults among ``names`` that fire for one request."""
        fired = {
            name: None
            for name in names
            if name in self.rates and self._rng.random() < self.rates[name]
        }
        return Faults(fired)
