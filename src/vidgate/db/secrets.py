"""Secrets that every process sharing one database must agree on, made once and kept there.

A process that needs one (the gateway's signed-URL key, the Luma callback key) and finds none
inserts a random value; the insert is conditional on the name being absent (the primary key),
so processes that start together on one database all end up with the first value written —
on many hosts too, which a file under ``$VIDGATE_HOME`` could not promise. Values never change
once written, so each process keeps what it read.
"""

from __future__ import annotations

import secrets
import threading

import sqlalchemy as sa

from .._clock import utcnow
from .engine import make_engine, upgrade
from .tables import shared_secrets

__all__ = ["shared_secret"]

_known: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def shared_secret(database_url: str, name: str, *, initial: str | None = None) -> str:
    """The secret ``name`` of the database at ``database_url``: the one stored there, else
    ``initial`` (or a random 256-bit hex string) stored now — unless another process stored
    one first, which is then the answer."""
    key = (database_url, name)
    with _lock:
        if key in _known:
            return _known[key]
        engine = make_engine(database_url)
        try:
            upgrade(engine)
            value = _read(engine, name)
            if value is None:
                try:
                    with engine.begin() as conn:
                        conn.execute(
                            shared_secrets.insert().values(
                                name=name,
                                value=initial or secrets.token_hex(32),
                                created_at=utcnow(),
                            )
                        )
                except sa.exc.IntegrityError:
                    pass  # another process got there first: its value is the one
                value = _read(engine, name)
            assert value is not None
        finally:
            engine.dispose()
        _known[key] = value
        return value


def _read(engine: sa.Engine, name: str) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(shared_secrets.c.value).where(shared_secrets.c.name == name)
        ).scalar_one_or_none()
    return None if value is None else str(value)
