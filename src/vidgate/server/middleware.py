"""The gateway's outermost layer, as plain ASGI (no per-request task or body buffering):

- a request id for every request (``X-Request-Id``: the caller's when it is short and plain,
  else a new one), on the response and in the access log;
- the body limit, enforced while the body streams in: a request whose ``Content-Length`` is over
  ``VIDGATE_MAX_BODY_BYTES`` is refused unread, and a body that grows past it (chunked, or
  lying about its length) is refused with 413 the moment it does — nothing past the limit is
  read, on every route (provider webhook receivers and multipart uploads included);
- one access-log line per request (time, request id, client address, method, path without its
  query string, route, status, duration, tenant) and the request metrics.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import raw_error
from .metrics import HttpMetrics

__all__ = ["GatewayMiddleware", "access_log"]

access_log = logging.getLogger("vidgate.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class BodyTooLarge(Exception):
    """Raised from ``receive`` when the body passes the limit (caught below, answered 413)."""


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            try:
                text = str(value.decode("ascii"))
            except UnicodeDecodeError:
                break
            if _REQUEST_ID.match(text):
                return text
            break
    return f"req_{_PROCESS}{next(_SERIAL):012x}"


#: New request ids: a random prefix per process and a counter (24 hex digits, like a random
#: id, and unique, without asking the operating system for randomness on every request).
_PROCESS = secrets.token_hex(6)
_SERIAL = itertools.count(1)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: HttpMetrics) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        limit = self.limit
        status = 500
        response_started = False
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                if too_large:
                    raise BodyTooLarge  # the app swallowed the error: answer 413 all the same
                status = message["status"]
                response_started = True
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                too_large = True
                raise BodyTooLarge
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            if response_started:
                raise
            status = 413
            headers, body = raw_error(
                413, "request_too_large", f"the body is larger than {limit} bytes", limit=limit
            )
            headers.append((b"x-request-id", rid.encode()))
            # The rest of the body is never read: the server closes the connection after this.
            headers.append((b"connection", b"close"))
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        except Exception:
            # A bug, not bad input: the same error body (with the request id to quote), and the
            # traceback goes to the server's log, never to the caller.
            if not response_started:
                status = 500
                headers, body = raw_error(
                    500, "internal_error", f"internal error (request id {rid})"
                )
                headers.append((b"x-request-id", rid.encode()))
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            raise
        finally:
            self._record(scope, rid, status, time.perf_counter() - started)

    def _record(self, scope: Scope, rid: str, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope.get("method", "")
        self.metrics.requests.labels(template, method, str(status)).inc()
        self.metrics.latency.labels(template, method).observe(elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        who: Any = scope.get("state", {}).get("principal")
        client = scope.get("client")
        access_log.info(
            json.dumps(
                {
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "request_id": rid,
                    "client": client[0] if client else None,
                    "method": method,
                    # Never the query string: signed links carry their signature there.
                    "path": str(scope.get("path", ""))[:512],
                    "route": template,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 2),
                    "tenant": who.tenant if who else None,
                    "key_id": who.key_id if who else None,
                }
            )
        )
