"""Tenants and their API keys, limits and webhook secrets.

A key looks like ``vg_<id>_<secret>``. Only a SHA-256 of the secret is stored; the key is shown
once, when it is made. Verification looks the row up by the public id and compares digests in
constant time. Every query the gateway makes is scoped to the key's tenant.

Limits are enforced atomically in the database, so a burst of concurrent requests — from one
process or many — cannot get past them: each check first takes a write lock (an ``UPDATE`` of the
tenant's row: a row lock on PostgreSQL, the database write lock on SQLite), then counts, then
writes, in one transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ._clock import as_utc as _aware
from ._clock import utcnow as _now
from .db import api_keys, jobs, rate_windows, tenants
from .exceptions import (
    AuthenticationFailed,
    ConcurrencyLimitReached,
    DailyQuotaExceeded,
    InvalidRequest,
    TooManyRequests,
)

__all__ = ["ApiKey", "Limits", "Principal", "TenantBook", "parse_rate"]

_KEY = re.compile(r"^vg_([a-z0-9]{16})_([A-Za-z0-9_-]{20,})$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[int, float]:
    """``"60/min"`` → ``(60, 60.0)``; also ``/s``, ``/h`` and ``N/30s``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*", text.lower())
    if not match or match[3] not in _UNITS:
        raise InvalidRequest(f"rate limits look like 60/min, 10/s or 1000/h, not {text!r}")
    count, multiple, unit = int(match[1]), int(match[2] or 1), _UNITS[match[3]]
    return count, float(multiple * unit)


@dataclass(frozen=True)
class Limits:
    rate_limit: int | None = None
    rate_period: float = 60.0
    max_concurrent: int | None = None
    daily_videos: int | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and key a request authenticated as."""

    tenant: str
    key_id: str
    admin: bool


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    admin: bool
    name: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    #: The full key; only set when the key has just been made.
    secret: str | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_LIMIT_CACHE_SECONDS = 5.0
#: What a tenant may choose for a create that may have succeeded where nobody can ask.
UNCERTAIN_SUBMIT_POLICIES = ("fallback", "fail")


class TenantBook:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._limit_cache: dict[str, tuple[bool, float]] = {}

    # -- tenants ---------------------------------------------------------------------------

    def ensure_tenant(self, name: str, limits: Limits | None = None, **values: Any) -> None:
        """Create the tenant if missing; set the given limits and settings either way."""
        if not _TENANT.match(name):
            raise InvalidRequest(
                f"tenant names are letters, digits, '.', '_' or '-' (up to 128), not {name!r}"
            )
        if values.get("uncertain_submit") not in (None, *UNCERTAIN_SUBMIT_POLICIES):
            raise InvalidRequest(
                f"uncertain_submit is one of {', '.join(UNCERTAIN_SUBMIT_POLICIES)} (or unset), "
                f"not {values['uncertain_submit']!r}"
            )
        now = _now()
        self._limit_cache.pop(name, None)
        update: dict[str, Any] = dict(values)
        if limits is not None:
            update.update(
                rate_limit=limits.rate_limit,
                rate_period=limits.rate_period,
                max_concurrent=limits.max_concurrent,
                daily_videos=limits.daily_videos,
            )
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(tenants.c.name).where(tenants.c.name == name)).first()
            if exists is None:
                conn.execute(
                    tenants.insert().values(
                        name=name,
                        webhook_secret="whsec_"
                        + base64.b64encode(secrets.token_bytes(24)).decode(),
                        created_at=now,
                        updated_at=now,
                        **update,
                    )
                )
            elif update:
                conn.execute(
                    tenants.update().where(tenants.c.name == name).values(updated_at=now, **update)
                )

    def tenant(self, name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tenants).where(tenants.c.name == name)).mappings().first()
        if row is None:
            raise InvalidRequest(f"no tenant named {name!r}")
        return dict(row)

    def uncertain_submit(self, name: str) -> str | None:
        """The tenant's policy for a create that may have succeeded at a provider that cannot
        be asked (``fallback`` or ``fail``), or None when it follows
        ``VIDGATE_UNCERTAIN_SUBMIT``. Set it with ``ensure_tenant(name, uncertain_submit=…)``."""
        value = self.tenant(name).get("uncertain_submit")
        return str(value) if value else None

    # -- keys ------------------------------------------------------------------------------

    def create_key(
        self,
        tenant: str,
        *,
        admin: bool = False,
        name: str | None = None,
        limits: Limits | None = None,
    ) -> ApiKey:
        """Make a key for ``tenant`` (creating the tenant, and setting its limits if given).
        The returned ``secret`` is the only copy of the full key."""
        self.ensure_tenant(tenant, limits)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    tenant=tenant,
                    hash=_digest(secret),
                    admin=admin,
                    name=name,
                    created_at=now,
                )
            )
        return ApiKey(key_id, tenant, admin, name, now, None, None, f"vg_{key_id}_{secret}")

    def verify(self, presented: str) -> Principal:
        """The principal for a presented key; ``AuthenticationFailed`` for anything else.
        The failure message never repeats the key."""
        match = _KEY.match(presented.strip())
        if match is None:
            raise AuthenticationFailed("invalid API key")
        key_id, secret = match[1], match[2]
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
            )
        # Compare even when the row is missing, so timing does not tell which ids exist.
        stored = row["hash"] if row is not None else _digest("absent")
        if not hmac.compare_digest(stored, _digest(secret)) or row is None:
            raise AuthenticationFailed("invalid API key")
        if row["revoked_at"] is not None:
            raise AuthenticationFailed("this API key was revoked")
        return Principal(tenant=row["tenant"], key_id=key_id, admin=bool(row["admin"]))

    def touch(self, key_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=_now())
            )

    def revoke(self, key_id: str) -> bool:
        key_id = key_id.removeprefix("vg_").split("_", 1)[0]
        with self.engine.begin() as conn:
            changed = conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            ).rowcount
        return changed == 1

    def list_keys(self, tenant: str | None = None) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            ApiKey(
                id=r["id"],
                tenant=r["tenant"],
                admin=bool(r["admin"]),
                name=r["name"],
                created_at=_aware(r["created_at"]) or _now(),
                revoked_at=_aware(r["revoked_at"]),
                last_used_at=_aware(r["last_used_at"]),
            )
            for r in rows
        ]

    # -- limits ----------------------------------------------------------------------------

    def _lock(self, conn: sa.Connection, tenant: str) -> dict[str, Any]:
        """Take the tenant's write lock for this transaction and return its row."""
        conn.execute(
            tenants.update().where(tenants.c.name == tenant).values(updated_at=tenants.c.updated_at)
        )
        row = conn.execute(sa.select(tenants).where(tenants.c.name == tenant)).mappings().first()
        return dict(row) if row is not None else {}

    def hit_rate_limit(self, tenant: str, now: float | None = None) -> None:
        """Count one request against the tenant's rate limit (a fixed window)."""
        now = time.time() if now is None else now
        if not self._has_rate_limit(tenant, now):
            return  # no write (and no write lock) for tenants without a rate limit
        with self.engine.begin() as conn:
            row = self._lock(conn, tenant)
            limit = row.get("rate_limit")
            if not limit:
                return
            period = float(row.get("rate_period") or 60.0)
            start = math.floor(now / period) * period
            updated = conn.execute(
                rate_windows.update()
                .where(rate_windows.c.tenant == tenant, rate_windows.c.window_start == start)
                .values(count=rate_windows.c.count + 1)
            ).rowcount
            if updated == 0:
                conn.execute(rate_windows.delete().where(rate_windows.c.tenant == tenant))
                conn.execute(
                    rate_windows.insert().values(tenant=tenant, window_start=start, count=1)
                )
                return
            count = conn.execute(
                sa.select(rate_windows.c.count).where(
                    rate_windows.c.tenant == tenant, rate_windows.c.window_start == start
                )
            ).scalar_one()
            if count > limit:
                retry_after = max(start + period - now, 0.001)
                raise TooManyRequests(
                    f"rate limit of {limit} requests per {period:g} s reached; "
                    f"retry in {math.ceil(retry_after)} s",
                    retry_after=retry_after,
                )

    def _has_rate_limit(self, tenant: str, now: float) -> bool:
        """Whether the tenant has a rate limit, from a cache refreshed every few seconds (a new
        limit takes effect within ``_LIMIT_CACHE_SECONDS``)."""
        cached = self._limit_cache.get(tenant)
        if cached is not None and now - cached[1] < _LIMIT_CACHE_SECONDS:
            return cached[0]
        with self.engine.connect() as conn:
            limit = conn.execute(
                sa.select(tenants.c.rate_limit).where(tenants.c.name == tenant)
            ).scalar()
        self._limit_cache[tenant] = (bool(limit), now)
        return bool(limit)

    def guard_new_job(self, conn: sa.Connection, tenant: str) -> None:
        """Inside the transaction that inserts a job: refuse it if the tenant is at its
        concurrent-job cap or its daily quota. Holds the tenant's lock until the insert commits."""
        row = self._lock(conn, tenant)
        cap, daily = row.get("max_concurrent"), row.get("daily_videos")
        if cap:
            running = conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.tenant == tenant, jobs.c.status.in_(("queued", "in_progress")))
            ).scalar_one()
            if running >= cap:
                raise ConcurrencyLimitReached(
                    f"{running} jobs are already running for tenant {tenant!r} (limit {cap}); "
                    "try again when one finishes",
                    retry_after=5.0,
                )
        if daily:
            midnight = _now().replace(hour=0, minute=0, second=0, microsecond=0)
            today = conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.tenant == tenant, jobs.c.created_at >= midnight)
            ).scalar_one()
            if today >= daily:
                tomorrow = midnight + timedelta(days=1)
                raise DailyQuotaExceeded(
                    f"tenant {tenant!r} has used its {daily} videos for today (UTC)",
                    retry_after=(tomorrow - _now()).total_seconds(),
                )
