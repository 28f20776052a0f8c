"""The log of every call vidgate makes to a provider, recorded against the job that made it.

Providers call ``record()``; the engine binds the current job with ``bind()`` and installs the sink
that writes rows. URLs are stored without query strings or credentials, because signed URLs carry
their signature there.

A caller that polls many tasks at once (the engine's poller) need not write a row per call: inside
``collect()`` records go to a list instead of the sink, each marked with the task it was about
(``about()``: a single poll of that task; None for a list call that covered many), and the caller
writes only those that matter with ``write()`` — the calls that showed a task's change, and every
failed call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CallRecord",
    "about",
    "bind",
    "collect",
    "record",
    "redact_url",
    "set_sink",
    "write",
]


@dataclass(frozen=True)
class CallRecord:
    job_id: str | None
    attempt_id: str | None
    at: datetime
    provider: str
    method: str
    url: str
    status_code: int | None
    latency_ms: float
    request_id: str | None
    error: str | None
    #: The provider task the call was about (``about()``), for a collecting caller; not stored.
    task: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status_code is None or self.status_code >= 400


_context: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "vidgate_request_context", default=(None, None)
)
_task: ContextVar[str | None] = ContextVar("vidgate_request_task", default=None)
_collecting: ContextVar[list[CallRecord] | None] = ContextVar(
    "vidgate_request_collecting", default=None
)
_sink: Callable[[CallRecord], None] | None = None


def set_sink(sink: Callable[[CallRecord], None] | None) -> None:
    """Install the function that stores records (the engine's store), or None to drop them."""
    global _sink
    _sink = sink


@contextmanager
def bind(job_id: str | None, attempt_id: str | None = None) -> Iterator[None]:
    """Attribute every call made inside the block to ``job_id`` / ``attempt_id``."""
    token = _context.set((job_id, attempt_id))
    try:
        yield
    finally:
        _context.reset(token)


@contextmanager
def about(remote_id: str | None) -> Iterator[None]:
    """Mark every call made inside the block as being about the provider task ``remote_id``."""
    token = _task.set(remote_id)
    try:
        yield
    finally:
        _task.reset(token)


@contextmanager
def collect() -> Iterator[list[CallRecord]]:
    """Keep the records of calls made inside the block (and in tasks it starts) in the list it
    yields instead of writing them; the caller decides which to ``write``."""
    kept: list[CallRecord] = []
    token = _collecting.set(kept)
    try:
        yield kept
    finally:
        _collecting.reset(token)


def write(call: CallRecord, job_id: str | None = None, attempt_id: str | None = None) -> None:
    """Write a collected record, attributed to ``job_id`` / ``attempt_id``."""
    if _sink is not None:
        _sink(replace(call, job_id=job_id, attempt_id=attempt_id))


def redact_url(url: str) -> str:
    """``https://user:pw@host/p?sig=…`` → ``https://host/p``: no credentials, no signatures."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def record(
    provider: str,
    method: str,
    url: str,
    *,
    status_code: int | None,
    latency_ms: float,
    request_id: str | None = None,
    error: str | None = None,
) -> None:
    kept = _collecting.get()
    if _sink is None and kept is None:
        return
    job_id, attempt_id = _context.get()
    call = CallRecord(
        job_id=job_id,
        attempt_id=attempt_id,
        at=datetime.now(UTC),
        provider=provider,
        method=method,
        url=redact_url(url),
        status_code=status_code,
        latency_ms=round(latency_ms, 2),
        request_id=request_id,
        error=error,
        task=_task.get(),
    )
    if kept is not None:
        kept.append(call)
    elif _sink is not None:
        _sink(call)
