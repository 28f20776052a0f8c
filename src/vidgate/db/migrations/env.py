"""Alembic environment: runs on the connection handed over by ``vidgate.db.upgrade`` (or, from
the alembic command line, on one it opens from ``sqlalchemy.url``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from vidgate.db.tables import metadata

VERSION_TABLE = "vidgate_alembic_version"


def run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    run(handed_over)
else:  # pragma: no cover - the alembic CLI path
    with sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "").begin() as conn:
        run(conn)
