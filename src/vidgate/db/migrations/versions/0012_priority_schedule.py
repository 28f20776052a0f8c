"""Priority and strategy, off-peak batches: each tenant's default priority and the strategy
each priority uses; when a scheduled batch job is released.

Revision ID: 0012_priority_schedule
Revises: 0009_cost_basis
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_priority_schedule"
down_revision = "0011_quarantine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("default_priority", sa.String(16)))
        batch.add_column(sa.Column("strategies", sa.JSON))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True)))
    op.create_index("ix_jobs_not_before", "jobs", ["not_before"])


def downgrade() -> None:
    op.drop_index("ix_jobs_not_before", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("strategies")
        batch.drop_column("default_priority")
