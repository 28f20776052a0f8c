"""Attempt charges: where each attempt's cost comes from (billed, computed, estimated), and the
latest provider account balances.

Revision ID: 0009_cost_basis
Revises: 0008_prompts
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_cost_basis"
down_revision = "0008_prompts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("cost_basis", sa.String(16)))
        batch.add_column(
            sa.Column("charge_open", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "provider_balances",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("usd", sa.Float),
        sa.Column("credits", sa.Float),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("provider_balances")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("charge_open")
        batch.drop_column("cost_basis")
