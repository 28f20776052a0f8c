"""What every route needs: the engine, tenants, signed URLs, webhooks, metrics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from ..engine import Engine
from ..exceptions import PermissionDenied
from ..settings import Settings
from ..webhooks import WebhookDispatcher
from .tenancy import TenantBook

__all__ = ["Gateway", "gateway"]

T = TypeVar("T")


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    tenants: TenantBook
    dispatcher: WebhookDispatcher
    signing_key: bytes

    async def read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a read-only engine call for a route. On SQLite it runs on the event loop: a read
        there takes a fraction of a millisecond and never waits for a writer (WAL), while the
        hop to a thread and back costs more than the read (a retrieve: about half its time).
        On PostgreSQL, where a read is a network round trip, it runs in a thread."""
        if self.engine.database.dialect.name == "sqlite":
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    def sign(self, job_id: str, variant: str, expires: int) -> str:
        message = f"{job_id}:{variant}:{expires}".encode()
        return hmac.new(self.signing_key, message, hashlib.sha256).hexdigest()[:40]

    def signed_url(self, base: str, job_id: str, variant: str) -> str:
        expires = self._expiry()
        return (
            f"{base}/v1/files/{job_id}/{variant}?expires={expires}"
            f"&sig={self.sign(job_id, variant, expires)}"
        )

    def signed_prefix(self, base: str, job_id: str, what: str) -> str:
        """A signed path prefix: ``{base}/v1/files/{job}/{what}/{expires}/{sig}``. The
        signature sits in the path, not the query, so the relative URIs inside an HLS playlist
        (which drop a query string) stay signed."""
        expires = self._expiry()
        return f"{base}/v1/files/{job_id}/{what}/{expires}/{self.sign(job_id, what, expires)}"

    def require_signature(self, job_id: str, variant: str, expires: int, sig: str) -> None:
        """``PermissionDenied`` unless the signed link is genuine and unexpired."""
        if not self.check_signature(job_id, variant, expires, sig):
            raise PermissionDenied("the link is invalid or has expired")

    def check_signature(self, job_id: str, variant: str, expires: int, sig: str) -> bool:
        if not sig.isascii():  # compare_digest refuses non-ASCII str; such a sig is wrong anyway
            return False
        return (
            hmac.compare_digest(self.sign(job_id, variant, expires), sig) and expires >= time.time()
        )

    def _expiry(self) -> int:
        expires = int(time.time() + self.settings.signed_url_ttl)
        # Round expiry up to the minute so a CDN sees one URL per minute, not one per request.
        expires -= expires % 60
        return expires + 60

    def base_url(self) -> str | None:
        """The gateway's external URL, from ``VIDGATE_PUBLIC_URL`` only. Never from the request's
        ``Host`` header, which the caller writes: a link built from it could point anywhere.
        ``None`` when unset, and then no signed links are made."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return None


async def gateway(request: Request) -> Gateway:
    """The request's ``Gateway``. ``async`` although it never waits: FastAPI runs a plain
    ``def`` dependency in a worker thread, a thread hop per request for a dictionary lookup."""
    found: Any = request.app.state.gateway
    assert isinstance(found, Gateway)
    return found
