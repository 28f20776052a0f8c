"""Possible orphans on attempts, and each tenant's uncertain-submit policy.

Revision ID: 0005_uncertain_submit
Revises: 0004_delivery
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_uncertain_submit"
down_revision = "0004_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(
            sa.Column("possible_orphan", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("orphan_cost_usd", sa.Float))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("uncertain_submit", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("uncertain_submit")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("orphan_cost_usd")
        batch.drop_column("possible_orphan")
