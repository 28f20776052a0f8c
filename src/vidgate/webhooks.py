"""Client webhooks: Standard Webhooks signatures and the delivery loop.

Events are written to ``webhook_deliveries`` in the same transaction as the job's status change
(see ``JobStore``). Every process that runs jobs (a worker engine: ``vidgate worker``,
``vidgate serve`` with its worker) runs ``WebhookDispatcher.run``: it claims due rows with a lease
in one atomic update (``claimed_by`` / ``claimed_until``), so several processes never send the
same delivery, and a dead claimer's rows are due again once its lease lapses. It POSTs them
signed with the tenant's ``whsec_`` secret and retries failures with exponential backoff. Every
attempt is recorded; an admin can re-deliver any event.

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
import os
import secrets
import socket
import time
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta
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
    """Sends the outbox's due deliveries. ``owner`` names this process in the claims it takes
    (the engine passes its executor id); a claim lasts ``lease_seconds``, and a row whose claim
    has lapsed (its claimer died) is due again for any process."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        retry_base: float = 5.0,
        max_attempts: int = 8,
        ssrf_allow: list[str] | None = None,
        timeout: float = 10.0,
        owner: str | None = None,
        lease_seconds: float | None = None,
        batch: int = 20,
    ) -> None:
        self.engine = engine
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.ssrf_allow = ssrf_allow or []
        self.timeout = timeout
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.lease_seconds = lease_seconds if lease_seconds is not None else max(60.0, 3 * timeout)
        self.batch = batch

    def claim(self) -> tuple[list[dict[str, Any]], datetime]:
        """Claim up to ``batch`` due rows for this process, in ONE update (of rows that are
        pending, due, and unclaimed or whose claim has lapsed), so two processes never hold the
        same row. Returns the rows (with the tenant's secret) and when the claim lapses."""
        now = _now()
        until = now + timedelta(seconds=self.lease_seconds)
        d = webhook_deliveries.c
        claimable = sa.and_(
            d.status == "pending",
            d.next_attempt_at <= now,
            sa.or_(d.claimed_until.is_(None), d.claimed_until < now),
        )
        due = (
            sa.select(d.id)
            .where(claimable)
            .order_by(d.created_at)
            .limit(self.batch)
            # PostgreSQL: concurrent claimers skip each other's rows instead of waiting; SQLite
            # (which has no FOR UPDATE) serializes the whole update under its write lock.
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self.engine.begin() as conn:
            # The conditions are repeated outside the subquery: PostgreSQL re-checks them on a
            # row another transaction changed meanwhile, so a row is never claimed twice.
            ids = (
                conn.execute(
                    webhook_deliveries.update()
                    .where(d.id.in_(due), claimable)
                    .values(claimed_by=self.owner, claimed_until=until)
                    .returning(d.id)
                )
                .scalars()
                .all()
            )
            if not ids:
                return [], until
            rows = (
                conn.execute(
                    sa.select(webhook_deliveries, tenants.c.webhook_secret)
                    .join(tenants, tenants.c.name == d.tenant, isouter=True)
                    .where(d.id.in_(ids))
                    .order_by(d.created_at)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows], until

    def _release(self, message_ids: list[str]) -> None:
        """Give back claimed rows this process will not send now (stopping, or short of lease)."""
        d = webhook_deliveries.c
        with self.engine.begin() as conn:
            conn.execute(
                webhook_deliveries.update()
                .where(d.id.in_(message_ids), d.claimed_by == self.owner)
                .values(claimed_by=None, claimed_until=None)
            )

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Send every due delivery once; returns how many were attempted. A row is only sent
        while enough of the claim is left for the send to finish inside it; the rest (and all
        of them once ``stop`` is set) are released for the next pass or another process."""
        rows, until = await asyncio.to_thread(self.claim)
        if not rows:
            return 0
        sent = 0
        try:
            async with self.http_client() as client:
                for row in rows:
                    if (stop is not None and stop.is_set()) or _now() + timedelta(
                        seconds=self.timeout + 1
                    ) >= until:
                        break
                    await self._send(client, row)
                    sent += 1
        finally:
            if sent < len(rows):
                await asyncio.to_thread(self._release, [r["id"] for r in rows[sent:]])
        return sent

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """The delivery loop: a pass, then (when nothing was due) a pause of ``interval``,
        until ``stop`` is set. A database hiccup is logged and the loop goes on."""
        while not stop.is_set():
            try:
                sent = await self.run_once(stop)
            except Exception:  # keep delivering after a database hiccup
                log.exception("webhook delivery pass failed")
                sent = 0
            if not sent:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

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
            recorded = conn.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.id == row["id"],
                    webhook_deliveries.c.claimed_by == self.owner,
                )
                .values(
                    attempts=attempts,
                    last_status_code=status_code,
                    last_error=error,
                    claimed_by=None,
                    claimed_until=None,
                    **values,
                )
            ).rowcount
        if recorded != 1:
            log.warning(
                "webhook %s: this process's claim lapsed before its result was recorded", row["id"]
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
        self,
        job_id: str | None = None,
        tenant: str | None = None,
        *,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Deliveries, oldest first; with ``limit``, the newest that many (newest first)."""
        d = webhook_deliveries.c
        newest = limit is not None
        query = sa.select(webhook_deliveries).order_by(
            d.created_at.desc() if newest else d.created_at
        )
        if job_id is not None:
            query = query.where(d.job_id == job_id)
        if tenant is not None:
            query = query.where(d.tenant == tenant)
        if status is not None:
            query = query.where(d.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def count(self, status: str) -> int:
        """How many deliveries are in ``status`` (pending, delivered, failed)."""
        query = sa.select(sa.func.count()).select_from(webhook_deliveries)
        query = query.where(webhook_deliveries.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
