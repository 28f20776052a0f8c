from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from vidgate.db import make_engine, metadata, upgrade
from vidgate.db.engine import alembic_config


def test_migrations_build_exactly_the_declared_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    upgrade(engine)
    with engine.connect() as conn:
        # Only our tables: the version table and DBOS's tables are not in our metadata.
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _: kind != "table" or name in metadata.tables},
        )
        diff = compare_metadata(context, metadata)
    assert diff == [], "tables.py and migrations/ disagree: write a migration"


def test_upgrade_is_idempotent_and_sqlite_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        version = conn.execute(sa.text("SELECT version_num FROM vidgate_alembic_version"))
        assert (
            version.scalar()
            == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        )
