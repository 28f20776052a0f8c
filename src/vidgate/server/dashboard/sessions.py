"""Dashboard sign-ins: a random cookie token per browser, kept only as its SHA-256.

A session names the API key it signed in with (never the key itself) and carries its own CSRF
token. It ends when it expires (``VIDGATE_DASHBOARD_SESSION_TTL``), when its browser signs
out, or at once when its key is revoked: every lookup reads the key's row.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..._clock import as_utc, utcnow
from ...db.tables import api_keys, dashboard_sessions
from ..tenancy import Principal

__all__ = ["Session", "SessionBook"]


@dataclass(frozen=True)
class Session:
    """A live sign-in: who it is and the token its forms must carry."""

    principal: Principal
    csrf: str
    key_name: str | None
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionBook:
    def __init__(
        self, database: sa.Engine, *, ttl: float, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = database
        self._ttl = timedelta(seconds=ttl)
        self._clock = clock

    def start(self, key_id: str) -> str:
        """A new session for a verified key; the cookie token (shown to no one else)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._db.begin() as conn:
            conn.execute(
                dashboard_sessions.insert().values(
                    token_hash=_digest(token),
                    key_id=key_id,
                    csrf=secrets.token_urlsafe(24),
                    created_at=now,
                    expires_at=now + self._ttl,
                )
            )
            # Sessions that ended or expired are of no more use: gone with each new sign-in.
            conn.execute(
                dashboard_sessions.delete().where(
                    sa.or_(
                        dashboard_sessions.c.expires_at < now,
                        dashboard_sessions.c.ended_at.is_not(None),
                    )
                )
            )
        return token

    def find(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None (unknown, ended, expired, key revoked)."""
        if not token or len(token) > 128:
            return None
        query = (
            sa.select(
                dashboard_sessions.c.csrf,
                dashboard_sessions.c.expires_at,
                dashboard_sessions.c.ended_at,
                api_keys.c.id,
                api_keys.c.tenant,
                api_keys.c.admin,
                api_keys.c.name,
                api_keys.c.revoked_at,
            )
            .join(api_keys, api_keys.c.id == dashboard_sessions.c.key_id)
            .where(dashboard_sessions.c.token_hash == _digest(token))
        )
        with self._db.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.ended_at is not None or row.revoked_at is not None:
            return None
        expires = as_utc(row.expires_at)
        if expires is None or expires <= self._clock():
            return None
        return Session(
            principal=Principal(tenant=row.tenant, key_id=row.id, admin=bool(row.admin)),
            csrf=row.csrf,
            key_name=row.name,
            expires_at=expires,
        )

    def end(self, token: str | None) -> None:
        if not token or len(token) > 128:
            return
        with self._db.begin() as conn:
            conn.execute(
                dashboard_sessions.update()
                .where(dashboard_sessions.c.token_hash == _digest(token))
                .values(ended_at=self._clock())
            )
