"""Budgets, quotas and the spend ledger.

Revision ID: 0007_budgets
Revises: 0006_shared_secrets
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_budgets"
down_revision = "0006_shared_secrets"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("end_user", sa.String(128), primary_key=True, server_default=""),
        sa.Column("daily_usd", sa.Float),
        sa.Column("monthly_usd", sa.Float),
        sa.Column("daily_videos", sa.Integer),
        sa.Column("monthly_seconds", sa.Float),
        sa.Column("timezone", sa.String(64)),
        sa.Column("thresholds", sa.JSON),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("end_user", sa.String(128), nullable=False, server_default=""),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("attempt_id", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("model", sa.String(255)),
        sa.Column("amount_usd", sa.Float, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("basis", sa.String(255)),
        sa.Column("at", _ts, nullable=False),
        sa.Column("once", sa.String(160), unique=True),
    )
    op.create_index("ix_ledger_tenant_at", "ledger", ["tenant", "at"])
    op.create_index("ix_ledger_job", "ledger", ["job_id", "kind"])
    op.create_table(
        "budget_alerts",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("fired_at", _ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budget_alerts")
    op.drop_index("ix_ledger_job", "ledger")
    op.drop_index("ix_ledger_tenant_at", "ledger")
    op.drop_table("ledger")
    op.drop_table("budgets")
