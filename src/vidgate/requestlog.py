"""The log of every call vidgate makes to a provider, recorded against the job that made it.

Providers call ``record()``; the engine binds the current job with ``bind()`` and installs the sink
that writes rows. URLs are stored without query strings or credentials, because signed URLs carry
their signature there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

__all__ = ["CallRecord", "bind", "record", "redact_url", "set_sink"]


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


_context: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "vidgate_request_context", default=(None, None)
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
    if _sink is None:
        return
    job_id, attempt_id = _context.get()
    _sink(
        CallRecord(
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
        )
    )
