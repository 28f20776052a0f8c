"""Alembic environment: runs on the connection handed over by ``vidgate.db.upgrade``."""

from __future__ import annotations

from alembic import context

from vidgate.db.tables import metadata

VERSION_TABLE = "vidgate_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the alembic CLI path
    import sqlalchemy as sa

    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
