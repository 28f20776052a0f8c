"""Creating the database engine and bringing the schema up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["SQLITE_SYNCHRONOUS", "make_dbos_engine", "make_engine", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


#: SQLite's ``synchronous`` levels vidgate offers (``VIDGATE_SQLITE_SYNCHRONOUS``).
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")


def make_engine(url: str, *, synchronous: str = "NORMAL") -> sa.Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout and foreign keys, so the CLI, a
    worker and DBOS can share one file, and ``synchronous`` (``NORMAL`` by default: in WAL mode
    a commit then skips its fsync — about 1.2 ms each on a typical disk — and the database
    stays consistent after a crash; only the last commits before a power loss can be lost.
    ``FULL`` fsyncs every commit)."""
    _check(synchronous)
    if url.startswith("sqlite"):
        # pool_size: keep a connection per thread that may use one (asyncio's default executor
        # has up to cpus + 4 threads), instead of opening and closing overflow connections.
        engine = sa.create_engine(url, connect_args={"timeout": 30}, pool_size=16)
        _sqlite_pragmas(engine, synchronous)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def make_dbos_engine(url: str, *, synchronous: str = "NORMAL") -> sa.Engine | None:
    """The engine DBOS's system database runs on, for SQLite: what DBOS builds for itself
    (``BEGIN IMMEDIATE`` transactions so writers queue instead of failing on a lock upgrade,
    a 30 s busy timeout, foreign keys, a pool of 20 and no overflow), plus vidgate's WAL and
    ``synchronous`` — without it every DBOS checkpoint commits with ``synchronous=FULL``.
    No ``pool_pre_ping``: a SQLite file has no server to lose. None for PostgreSQL, where DBOS
    builds its own engine (``synchronous`` is SQLite's)."""
    _check(synchronous)
    if not url.startswith("sqlite"):
        return None
    engine = sa.create_engine(
        url, connect_args={"timeout": 30}, pool_size=20, max_overflow=0, pool_timeout=30
    )
    _sqlite_pragmas(engine, synchronous, immediate=True)
    return engine


def _check(synchronous: str) -> None:
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"synchronous is one of {SQLITE_SYNCHRONOUS}, not {synchronous!r}")


def _sqlite_pragmas(engine: sa.Engine, synchronous: str, *, immediate: bool = False) -> None:
    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        if immediate:
            dbapi_conn.isolation_level = "IMMEDIATE"
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``. Safe to call from several processes at once:
    PostgreSQL serializes migrators with an advisory lock; on SQLite a process that lost the race
    to create a table finds it made by the winner and tries again."""
    config = alembic_config(engine)
    for attempt in range(3):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # One migrator at a time across hosts; the lock ends with the transaction.
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(7466812)"))
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            return
        except sa.exc.OperationalError as exc:
            if attempt == 2 or "already exists" not in str(exc):
                raise
