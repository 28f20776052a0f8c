"""Client webhooks: Standard Webhooks signatures and the delivery loop.

Events are written to ``webhook_deliveries`` in the same transaction as the job's status change
(see ``JobStore``); ``WebhookDispatcher`` claims due rows one at a time (an atomic update, so
several processes never send the same delivery at once), POSTs them signed with the tenant's
``whsec_`` secret, and retries failures with exponential backoff. Every attempt is recorded;
an admin can re-deliver any event.

Signature (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>``, where the
secret is the base64 part of ``whsec_…``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from ._clock import utcnow as _now
from .db import tenants, webhook_deliveries
from .exceptions import InvalidRequest
from .ssrf import GuardedTransport, check_url

__all__ = ["WebhookDispatcher", "sign", "verify"]

log = logging.getLogger("vidgate.webhooks")

TOLERANCE_SECONDS = 300


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(
    secret: str, message_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise ``ValueError`` unless the headers carry a valid, fresh signature of ``body``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature", "")
    if not message_id or not stamp or not signatures:
        raise ValueError("missing webhook signature headers")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise ValueError("bad webhook timestamp") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise ValueError("webhook timestamp is outside the tolerance")
    expected = sign(secret, message_id, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures.split() if s.startswith("v1,")):
        raise ValueError("webhook signature does not match")


class WebhookDispatcher:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        retry_base: float = 5.0,
        max_attempts: int = 8,
        ssrf_allow: list[str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.engine = engine
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.ssrf_allow = ssrf_allow or []
        self.timeout = timeout

    def _claim(self) -> list[dict[str, Any]]:
        now = _now()
        with self.engine.connect() as conn:
            due = (
                conn.execute(
                    sa.select(webhook_deliveries.c.id)
                    .where(
                        webhook_deliveries.c.status == "pending",
                        webhook_deliveries.c.next_attempt_at <= now,
                    )
                    .order_by(webhook_deliveries.c.created_at)
                    .limit(20)
                )
                .scalars()
                .all()
            )
        claimed = []
        for message_id in due:
            with self.engine.begin() as conn:
                won = conn.execute(
                    webhook_deliveries.update()
                    .where(
                        webhook_deliveries.c.id == message_id,
                        webhook_deliveries.c.status == "pending",
                    )
                    .values(status="sending", next_attempt_at=now + timedelta(minutes=5))
                ).rowcount
                if won != 1:
                    continue
                row = (
                    conn.execute(
                        sa.select(webhook_deliveries, tenants.c.webhook_secret)
                        .join(tenants, tenants.c.name == webhook_deliveries.c.tenant, isouter=True)
                        .where(webhook_deliveries.c.id == message_id)
                    )
                    .mappings()
                    .one()
                )
                claimed.append(dict(row))
        return claimed

    async def run_once(self) -> int:
        """Send every due delivery once; returns how many were attempted."""
        rows = await asyncio.to_thread(self._claim)
        if not rows:
            return 0
        async with self.http_client() as client:
            for row in rows:
                await self._send(client, row)
        return len(rows)

    def http_client(self) -> httpx.AsyncClient:
        """The client deliveries go out with: no redirects, no proxy from the environment, and
        a transport that checks, when connecting, the address it connects to (SSRF guard)."""
        return httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
            transport=GuardedTransport(allow=self.ssrf_allow, label="webhook_url"),
        )

    async def _send(self, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
        body = json.dumps(row["payload"], separators=(",", ":")).encode()
        status_code: int | None = None
        error: str | None = None
        try:
            await asyncio.to_thread(
                check_url, row["url"], allow=self.ssrf_allow, label="webhook_url"
            )
            secret = row.get("webhook_secret") or ""
            headers = signed_headers(secret, row["id"], body) if secret else {}
            response = await client.post(row["url"], content=body, headers=headers)
            status_code = response.status_code
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except InvalidRequest as exc:
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row["attempts"] + 1
        now = _now()
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now}
        elif attempts >= self.max_attempts:
            values = {"status": "failed"}
            log.warning("webhook %s to %s failed for good: %s", row["id"], row["url"], error)
        else:
            delay = min(self.retry_base * 2 ** (attempts - 1), 3600.0)
            values = {"status": "pending", "next_attempt_at": now + timedelta(seconds=delay)}
        with self.engine.begin() as conn:
            conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == row["id"])
                .values(attempts=attempts, last_status_code=status_code, last_error=error, **values)
            )

    def redeliver(self, message_id: str) -> bool:
        with self.engine.begin() as conn:
            changed = conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == message_id)
                .values(status="pending", next_attempt_at=_now())
            ).rowcount
        return changed == 1

    def deliveries(
        self, job_id: str | None = None, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        query = sa.select(webhook_deliveries).order_by(webhook_deliveries.c.created_at)
        if job_id is not None:
            query = query.where(webhook_deliveries.c.job_id == job_id)
        if tenant is not None:
            query = query.where(webhook_deliveries.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
