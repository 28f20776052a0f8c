"""Provider health (circuit breakers), worker leases, and the routing decision on jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("routing", sa.JSON))
    op.create_table(
        "provider_health",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("opened_at", _ts),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_table(
        "workers",
        sa.Column("executor_id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", _ts, nullable=False),
        sa.Column("heartbeat_at", _ts, nullable=False),
        sa.Column("recovered_by", sa.String(128)),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("provider_health")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("routing")
