"""DBOS's own connections to a SQLite system database follow ``VIDGATE_SQLITE_SYNCHRONOUS``
(every DBOS checkpoint is a commit: with DBOS's default engine each one was fsynced)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dbos._dbos import _get_dbos_instance

from tests.conftest import small_request
from vidgate.db import make_dbos_engine
from vidgate.engine import Engine
from vidgate.settings import Settings


def _pragmas(engine: sa.Engine) -> tuple[str, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.text("PRAGMA journal_mode")).scalar(),
            conn.execute(sa.text("PRAGMA synchronous")).scalar(),
            conn.execute(sa.text("PRAGMA busy_timeout")).scalar(),
        )


@pytest.mark.parametrize(("setting", "level"), [(None, 1), ("FULL", 2)])
async def test_the_launched_dbos_commits_with_vidgates_synchronous_level(
    setting: str | None, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting is not None:
        monkeypatch.setenv("VIDGATE_SQLITE_SYNCHRONOUS", setting)
    async with Engine(Settings()) as engine:
        # The engine DBOS's system database runs on in this process, and the client's.
        system = _get_dbos_instance()._sys_db.engine
        assert _pragmas(system) == ("wal", level, 30000)
        engine.enqueue(small_request())
        client = engine._client()._sys_db.engine
        assert _pragmas(client) == ("wal", level, 30000)


def test_dbos_sqlite_transactions_take_the_write_lock_up_front(settings: Settings) -> None:
    """As DBOS's own SQLite engine does: ``BEGIN IMMEDIATE``, so two writers queue on the
    busy timeout instead of one failing when its read lock cannot be upgraded."""
    settings.ensure_dirs()
    engine = make_dbos_engine(settings.resolved_database_url)
    assert engine is not None
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None and raw.isolation_level == "IMMEDIATE"
    engine.dispose()


def test_on_postgresql_dbos_builds_its_own_engine() -> None:
    assert make_dbos_engine("postgresql://vidgate@127.0.0.1/none") is None
