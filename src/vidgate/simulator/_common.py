"""The plumbing every twin shares, with no provider's wire knowledge in it.

- ``bearer_token``: the ``Authorization: <scheme> <token>`` check (what each twin answers
  without one is its own provider's error shape).
- ``request_key``: what makes two creates "the same request" (a client's retry), for the faults
  that fail once and then let the retry through.
- ``CreateFaults``: a create's faults — those it asked for plus the global profile's draw — and
  which of them fire now.
- ``add_task``: a create's task, with the configured latency and the client's reference.
- ``poll_fails``: whether a status read answers 5xx (``500-poll``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Self

from starlette.requests import Request

from .faults import FAULT_HEADER, Faults
from .state import RenderSpec, SimState, SimTask

__all__ = [
    "REFERENCE_HEADER",
    "CreateFaults",
    "add_task",
    "bearer_token",
    "poll_fails",
    "request_key",
]

#: The header vidgate's adapters send with their client reference (the stats count by it).
REFERENCE_HEADER = "x-vidgate-reference"


def bearer_token(request: Request, schemes: Iterable[str] = ("bearer",)) -> str | None:
    """The token of an ``Authorization: <scheme> <token>`` header whose scheme (any case) is
    one of ``schemes``; None when the header is missing, of another scheme, or blank."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in schemes or not token.strip():
        return None
    return token.strip()


def request_key(request: Request, raw: bytes, scope: bytes = b"") -> str:
    """What makes two creates "the same request" (a client's retry): our reference, else the
    body (within ``scope``) and the fault header."""
    reference = request.headers.get(REFERENCE_HEADER)
    if reference:
        return "ref:" + reference
    digest = hashlib.sha256(scope + raw + (request.headers.get(FAULT_HEADER) or "").encode())
    return "body:" + digest.hexdigest()


@dataclass
class CreateFaults:
    """A create's faults: what it asked for plus the profile's draw, and which fire now.

    A drawn fault fires whenever drawn; one the request asks for fires once per request key, so
    a client's retry of the same create goes through."""

    sim: SimState
    requested: Faults
    drawn: Faults
    key: str

    @classmethod
    def draw(
        cls,
        sim: SimState,
        request: Request,
        raw: bytes,
        requested: Faults,
        names: list[str],
        scope: bytes = b"",
    ) -> Self:
        """Draws ``names`` from the global profile for this create."""
        drawn = sim.config.profile.draw(names)
        return cls(sim, requested, drawn, request_key(request, raw, scope))

    @property
    def all(self) -> Faults:
        return self.requested.merged(self.drawn)

    def fires(self, name: str) -> bool:
        if name in self.drawn:
            return True
        return name in self.requested and self._once(name)

    def _once(self, name: str) -> bool:
        return self.sim.first_time(name, self.key)


def poll_fails(sim: SimState, task: SimTask, faults: Faults | None = None) -> bool:
    """Whether a status read answers 5xx: the task's first reads under ``500-poll``, the read's
    own ``500-poll``, or the profile's draw."""
    drawn = sim.config.profile.draw(["500-poll"])
    requested = faults is not None and "500-poll" in faults
    return task.first_polls_fail() or requested or "500-poll" in drawn


def add_task(
    sim: SimState,
    request: Request,
    provider: str,
    spec: RenderSpec,
    faults: Faults,
    *,
    model: str | None,
    extra: dict[str, Any],
    task_id: str | None = None,
    created_at: float | None = None,
) -> SimTask:
    """Adds the task a create makes: the configured latency, the client's reference (what the
    stats count creates by), and a UUID unless the provider names its tasks its own way."""
    task = SimTask(
        id=sim.new_id("uuid") if task_id is None else task_id,
        provider=provider,
        spec=spec,
        faults=faults,
        latency=sim.config.latency,
        reference=request.headers.get(REFERENCE_HEADER),
        model=model,
        extra=extra,
    )
    if created_at is not None:
        task.created_at = created_at
    return sim.add(task)
