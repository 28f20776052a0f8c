"""Tenants and their API keys, limits and webhook secrets.

A key looks like ``vg_<id>_<secret>``. Only a SHA-256 of the secret is stored; the key is shown
once, when it is made. Verification looks the row up by the public id and compares digests in
constant time. Every query the gateway makes is scoped to the key's tenant.

Limits are enforced atomically in the database, so a burst of concurrent requests — from one
process or many — cannot get past them: each check first takes a write lock (an ``UPDATE`` of the
tenant's row: a row lock on PostgreSQL, the database write lock on SQLite), then counts, then
writes, in one transaction. A tenant without a limit is never locked: nothing is counted for it.
A verified key is trusted for ``key_cache_seconds`` in the process (``VIDGATE_KEY_CACHE_SECONDS``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc as _aware
from .._clock import utcnow as _now
from ..db import api_keys, jobs, rate_windows, tenants
from ..delivery.profile import parse_profile
from ..exceptions import (
    AuthenticationFailed,
    ConcurrencyLimitReached,
    DailyQuotaExceeded,
    InvalidRequest,
    NotFound,
    TenantNotFound,
    TooManyRequests,
)
from ..priority.model import Priority, parse_strategies

__all__ = [
    "LIMIT_FIELDS",
    "ApiKey",
    "Limits",
    "Principal",
    "Tenant",
    "TenantBook",
    "format_rate",
    "limit_changes",
    "parse_rate",
]

_KEY = re.compile(r"^vg_([a-z0-9]{16})_([A-Za-z0-9_-]{20,})$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[int, float]:
    """``"60/min"`` → ``(60, 60.0)``; also ``/s``, ``/h`` and ``N/30s``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*", text.lower())
    if not match or match[3] not in _UNITS:
        raise InvalidRequest(f"rate limits look like 60/min, 10/s or 1000/h, not {text!r}")
    count, multiple, unit = int(match[1]), int(match[2] or 1), _UNITS[match[3]]
    if not 1 <= count <= _MAX_LIMIT or not 1 <= multiple <= 86_400:
        raise InvalidRequest(
            f"a rate limit counts 1 to {_MAX_LIMIT} requests per period, not {text!r} "
            "(clear it with none)"
        )
    return count, float(multiple * unit)


def format_rate(count: int, period: float) -> str:
    """``(60, 60.0)`` → ``"60/min"``: the inverse of ``parse_rate``."""
    for seconds, unit in ((3600, "h"), (60, "min"), (1, "s")):
        if period == seconds:
            return f"{count}/{unit}"
    return f"{count}/{period:g}s"


#: The limits a tenant has, by their public names (CLI flags, the admin API's fields).
LIMIT_FIELDS = (
    "rate_limit",
    "max_concurrent",
    "daily_videos",
    "deadline_seconds",
    "uncertain_submit",
    "default_priority",
    "strategies",
    "cache_similarity",
    "delivery_profile",
)
_MAX_LIMIT = 1_000_000
_MAX_DEADLINE = 24 * 3600.0


def limit_changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate limit changes given by their public names (``LIMIT_FIELDS``) and return them as
    column values. ``None`` clears a limit; a name that is absent is left alone. Everything is
    checked, and nothing is returned, unless every value is valid: ``rate_limit`` is text like
    ``"60/min"``, ``max_concurrent`` and ``daily_videos`` whole numbers from 1, and
    ``deadline_seconds`` a number of seconds above 0, up to a day, and ``uncertain_submit``
    ``"fallback"`` or ``"fail"`` (``None``: follow ``VIDGATE_UNCERTAIN_SUBMIT``),
    ``default_priority`` a priority (``critical``, ``standard``, ``batch``), ``strategies``
    an object of priority → strategy (a ``None`` value clears that priority's; the object is
    merged into the tenant's by ``TenantBook.set_limits``), and ``cache_similarity`` a cosine
    threshold above 0 up to 1 for ``cache: "similar"`` (``None``: ``VIDGATE_CACHE_SIMILARITY``),
    and ``delivery_profile`` an object of delivery profile keys merged over
    ``VIDGATE_DELIVERY_PROFILE`` when a job delivers (``None``: that profile alone)."""
    unknown = sorted(set(values) - set(LIMIT_FIELDS))
    if unknown:
        raise InvalidRequest(f"unknown tenant fields {unknown}; known: {list(LIMIT_FIELDS)}")
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            changes[_COLUMNS[name]] = None
        elif name == "rate_limit":
            if not isinstance(value, str):
                raise InvalidRequest("rate_limit must be text like '60/min', or null to clear it")
            changes["rate_limit"], changes["rate_period"] = parse_rate(value)
        elif name in ("default_priority", "strategies"):
            changes[name] = _routing_change(name, value)
        elif name in _POLICIES:
            changes[name] = _POLICIES[name](value)
        elif name in ("max_concurrent", "daily_videos"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(f"{name} must be a whole number, or null to clear it")
            if not 1 <= value <= _MAX_LIMIT:
                raise InvalidRequest(f"{name} must be between 1 and {_MAX_LIMIT}, not {value}")
            changes[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidRequest(f"{name} must be a number of seconds, or null to clear it")
            if not 0 < value <= _MAX_DEADLINE or not math.isfinite(value):
                raise InvalidRequest(
                    f"{name} must be above 0 and at most {_MAX_DEADLINE:g} seconds, not {value}"
                )
            changes[_COLUMNS[name]] = float(value)
    return changes


def _routing_change(name: str, value: Any) -> Any:
    """A tenant's default priority, or its strategy changes: priority → strategy, or None to
    clear that priority's."""
    if name == "default_priority":
        if value not in {p.value for p in Priority}:
            raise InvalidRequest(
                f"default_priority is one of {', '.join(p.value for p in Priority)}, "
                "or null to follow VIDGATE_DEFAULT_PRIORITY"
            )
        return value
    if not isinstance(value, Mapping) or len(value) > len(Priority):
        raise InvalidRequest(
            'strategies is an object of priority → strategy, e.g. {"batch": "cheapest"}'
        )
    try:
        chosen = parse_strategies({k: v for k, v in value.items() if v is not None})
    except ValueError as exc:
        raise InvalidRequest(f"strategies: {exc}") from None
    cleared = {str(k) for k, v in value.items() if v is None}
    unknown = cleared - {p.value for p in Priority}
    if unknown:
        raise InvalidRequest(f"strategies: unknown priority {sorted(unknown)[0][:32]!r}")
    return {**{p.value: s.value for p, s in chosen.items()}, **dict.fromkeys(cleared)}


def _uncertain_submit(value: Any) -> str:
    if value not in UNCERTAIN_SUBMIT_POLICIES:
        raise InvalidRequest(
            f"uncertain_submit is one of {', '.join(UNCERTAIN_SUBMIT_POLICIES)}, "
            "or null to follow the gateway's default"
        )
    return str(value)


def _cache_similarity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest("cache_similarity must be a number, or null to clear it")
    if not 0 < value <= 1:
        raise InvalidRequest(f"cache_similarity must be above 0 and at most 1, not {value}")
    return float(value)


def _delivery_profile(value: Any) -> str:
    if not isinstance(value, Mapping):
        raise InvalidRequest(
            'delivery_profile is an object like {"tiers": ["720p", "480p"], "webm": true}, '
            "or null to follow VIDGATE_DELIVERY_PROFILE"
        )
    parse_profile(dict(value), where="delivery_profile")  # InvalidDeliveryProfile names the key
    return json.dumps(dict(value), sort_keys=True)


#: A tenant's policies (not limits): each value's check, which returns the column's value.
_POLICIES: dict[str, Callable[[Any], Any]] = {
    "uncertain_submit": _uncertain_submit,
    "cache_similarity": _cache_similarity,
    "delivery_profile": _delivery_profile,
}

_COLUMNS = {
    "rate_limit": "rate_limit",
    "max_concurrent": "max_concurrent",
    "daily_videos": "daily_videos",
    "deadline_seconds": "default_deadline",
    "uncertain_submit": "uncertain_submit",
    "default_priority": "default_priority",
    "strategies": "strategies",
    "cache_similarity": "cache_similarity",
    "delivery_profile": "delivery_profile",
}


def _profile_keys(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Tenant:
    """A tenant and its limits (``None``: no limit)."""

    name: str
    rate_limit: int | None
    rate_period: float
    max_concurrent: int | None
    daily_videos: int | None
    deadline_seconds: float | None
    uncertain_submit: str | None
    webhook_url: str | None
    active_keys: int
    created_at: datetime
    updated_at: datetime
    #: The tenant's default priority, and its strategy per priority (None / absent: settings).
    default_priority: str | None = None
    strategies: dict[str, str] | None = None
    cache_similarity: float | None = None
    #: The tenant's own delivery profile keys (None: VIDGATE_DELIVERY_PROFILE alone).
    delivery_profile: dict[str, Any] | None = None

    def limits(self) -> dict[str, Any]:
        """The limits by their public names, as the admin API shows them."""
        return {
            "rate_limit": format_rate(self.rate_limit, self.rate_period)
            if self.rate_limit
            else None,
            "max_concurrent": self.max_concurrent,
            "daily_videos": self.daily_videos,
            "deadline_seconds": self.deadline_seconds,
            "uncertain_submit": self.uncertain_submit,
            "default_priority": self.default_priority,
            "strategies": self.strategies or {},
            "cache_similarity": self.cache_similarity,
            "delivery_profile": self.delivery_profile,
        }

    def describe(self) -> str:
        """One line for people: ``rate 60/min, 4 at once, 500 videos a day, deadline 300 s``."""
        limits = self.limits()
        parts = [
            f"rate {limits['rate_limit'] or 'unlimited'}",
            f"{self.max_concurrent or 'unlimited'} at once",
            f"{self.daily_videos or 'unlimited'} videos a day",
            f"deadline {f'{self.deadline_seconds:g} s' if self.deadline_seconds else 'default'}",
            f"uncertain submit {self.uncertain_submit or 'default'}",
            f"priority {self.default_priority or 'default'}",
            "strategies "
            + (", ".join(f"{k}={v}" for k, v in (self.strategies or {}).items()) or "default"),
            f"cache similarity {self.cache_similarity or 'default'}",
        ]
        return ", ".join(parts)


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
#: ``last_used_at`` is written at most this often per key and process (not once per request).
TOUCH_SECONDS = 60.0
KEY_NAME_MAX_CHARS = 128
#: What a tenant may choose for a create that may have succeeded where nobody can ask.
UNCERTAIN_SUBMIT_POLICIES = ("fallback", "fail")


#: How long a verified key is trusted without reading its row again (``VIDGATE_KEY_CACHE_SECONDS``).
KEY_CACHE_SECONDS = 5.0
#: At most this many verified keys are remembered per process (then the memory starts afresh).
_KEY_CACHE_MAX = 10_000


#: A tenant's cap and quota, read before deciding whether a create must lock the tenant.
_CAPS = sa.select(tenants.c.max_concurrent, tenants.c.daily_videos).where(
    tenants.c.name == sa.bindparam("tenant")
)


class TenantBook:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        touch_seconds: float = TOUCH_SECONDS,
        key_cache_seconds: float = KEY_CACHE_SECONDS,
    ) -> None:
        self.engine = engine
        self._limit_cache: dict[str, tuple[bool, float]] = {}
        self.touch_seconds = touch_seconds
        self._touched: dict[str, float] = {}
        self.key_cache_seconds = key_cache_seconds
        #: SHA-256 of a presented key → (its principal, when to read the key row again).
        self._verified: dict[str, tuple[Principal, float]] = {}

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
            raise TenantNotFound(name)
        return dict(row)

    def tenants(self) -> list[Tenant]:
        """Every tenant, by name."""
        return self._tenants(None)

    def get_tenant(self, name: str) -> Tenant:
        """One tenant and its limits; ``TenantNotFound`` if there is none by that name."""
        found = self._tenants(name)
        if not found:
            raise TenantNotFound(name)
        return found[0]

    def set_limits(self, name: str, values: Mapping[str, Any]) -> Tenant:
        """Change the limits named in ``values`` (public names, ``None`` clears one) and leave
        the others as they are. The tenant must exist; every value is validated first."""
        changes = limit_changes(values)
        self._limit_cache.pop(name, None)
        with self.engine.begin() as conn:
            if changes.get("strategies") is not None:  # merged into the tenant's own
                had = conn.execute(
                    sa.select(tenants.c.strategies).where(tenants.c.name == name)
                ).scalar()
                merged = {**(had if isinstance(had, dict) else {}), **changes["strategies"]}
                changes["strategies"] = {k: v for k, v in merged.items() if v is not None} or None
            if changes:
                changed = conn.execute(
                    tenants.update()
                    .where(tenants.c.name == name)
                    .values(updated_at=_now(), **changes)
                ).rowcount
            else:
                changed = len(
                    conn.execute(sa.select(tenants.c.name).where(tenants.c.name == name)).all()
                )
        if changed != 1:
            raise TenantNotFound(name)
        return self.get_tenant(name)

    def _tenants(self, name: str | None) -> list[Tenant]:
        active = (
            sa.select(sa.func.count())
            .select_from(api_keys)
            .where(api_keys.c.tenant == tenants.c.name, api_keys.c.revoked_at.is_(None))
            .scalar_subquery()
        )
        query = sa.select(tenants, active.label("active_keys")).order_by(tenants.c.name)
        if name is not None:
            query = query.where(tenants.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Tenant(
                name=r["name"],
                rate_limit=r["rate_limit"],
                rate_period=float(r["rate_period"] or 60.0),
                max_concurrent=r["max_concurrent"],
                daily_videos=r["daily_videos"],
                deadline_seconds=r["default_deadline"],
                uncertain_submit=r["uncertain_submit"],
                default_priority=r["default_priority"],
                strategies=r["strategies"] if isinstance(r["strategies"], dict) else None,
                webhook_url=r["webhook_url"],
                active_keys=int(r["active_keys"]),
                created_at=_aware(r["created_at"]) or _now(),
                updated_at=_aware(r["updated_at"]) or _now(),
                cache_similarity=r["cache_similarity"],
                delivery_profile=_profile_keys(r["delivery_profile"]),
            )
            for r in rows
        ]

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
        if name is not None and (len(name) > KEY_NAME_MAX_CHARS or not name.isprintable()):
            raise InvalidRequest(
                f"key names are printable text of at most {KEY_NAME_MAX_CHARS} characters"
            )
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

    def verified(self, presented: str) -> Principal | None:
        """The principal of a key verified less than ``key_cache_seconds`` ago in this process,
        without reading the database; None otherwise. Only keys that passed ``verify`` are
        remembered, by their digest (never the key itself)."""
        found = self._verified.get(_digest(presented.strip()))
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]

    def verify(self, presented: str) -> Principal:
        """The principal for a presented key; ``AuthenticationFailed`` for anything else.
        The failure message never repeats the key. A key verified in the last
        ``key_cache_seconds`` is not read again: a key revoked by another process stops
        working here within that time (at once when revoked through this book)."""
        cached = self.verified(presented)
        if cached is not None:
            return cached
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
        self._maybe_touch(key_id)
        who = Principal(tenant=row["tenant"], key_id=key_id, admin=bool(row["admin"]))
        if self.key_cache_seconds > 0:
            if len(self._verified) >= _KEY_CACHE_MAX:
                self._verified.clear()
            expires = time.monotonic() + self.key_cache_seconds
            self._verified[_digest(presented.strip())] = (who, expires)
        return who

    def no_rate_limit(self, tenant: str) -> bool:
        """True when the limit cache says, without reading the database, that ``tenant`` has
        no rate limit (so a request needs no counting)."""
        cached = self._limit_cache.get(tenant)
        return (
            cached is not None and not cached[0] and time.time() - cached[1] < _LIMIT_CACHE_SECONDS
        )

    def _maybe_touch(self, key_id: str) -> None:
        """Record that the key was used, at most once per ``touch_seconds`` in this process:
        ``last_used_at`` is minute-precise, and a write per request would cost throughput."""
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < self.touch_seconds:
            return
        self._touched[key_id] = now
        self.touch(key_id)

    def touch(self, key_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=_now())
            )

    def revoke(self, key_id: str) -> bool:
        key_id = key_id.removeprefix("vg_").split("_", 1)[0]
        self._forget_key(key_id)
        with self.engine.begin() as conn:
            changed = conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            ).rowcount
        return changed == 1

    def _forget_key(self, key_id: str) -> None:
        for digest, (who, _) in list(self._verified.items()):
            if who.key_id == key_id:
                self._verified.pop(digest, None)

    def list_keys(self, tenant: str | None = None) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        return self._keys(query)

    def get_key(self, key_id: str) -> ApiKey:
        """One key by its id (or the key itself), never its secret; ``NotFound`` if none."""
        key_id = key_id.removeprefix("vg_").split("_", 1)[0]
        found = self._keys(sa.select(api_keys).where(api_keys.c.id == key_id))
        if not found:
            raise NotFound("no API key with that id", details={"id": key_id[:32]})
        return found[0]

    def count_keys(self) -> int:
        """How many keys are not revoked."""
        query = sa.select(sa.func.count()).select_from(api_keys)
        with self.engine.connect() as conn:
            return int(conn.execute(query.where(api_keys.c.revoked_at.is_(None))).scalar_one())

    def _keys(self, query: sa.Select[Any]) -> list[ApiKey]:
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
        concurrent-job cap or its daily quota. Holds the tenant's lock until the insert commits.
        A tenant with neither limit is not locked: nothing is counted, so creates for it do not
        wait on each other (a limit set meanwhile applies from the next create)."""
        caps = conn.execute(_CAPS, {"tenant": tenant}).first()
        if caps is None or not (caps.max_concurrent or caps.daily_videos):
            return
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
