"""Tenants, API keys, rate windows and client webhook deliveries, for the gateway.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("deleted_at", _ts))
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("rate_limit", sa.Integer),
        sa.Column("rate_period", sa.Float, nullable=False, server_default="60"),
        sa.Column("max_concurrent", sa.Integer),
        sa.Column("daily_videos", sa.Integer),
        sa.Column("default_deadline", sa.Float),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_secret", sa.String(128), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(128), sa.ForeignKey("tenants.name"), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("name", sa.String(255)),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("revoked_at", _ts),
        sa.Column("last_used_at", _ts),
    )
    op.create_table(
        "rate_windows",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("window_start", sa.Float, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", _ts, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("delivered_at", _ts),
    )
    op.create_index("ix_webhook_deliveries_job_id", "webhook_deliveries", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_job_id", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("rate_windows")
    op.drop_table("api_keys")
    op.drop_table("tenants")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deleted_at")
