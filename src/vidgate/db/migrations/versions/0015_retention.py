"""Retention: each tenant's policy (`tenants.retention`), and asset rows that outlive their
stored object (`assets.deleted_at`, `assets.deleted_reason`), found by key for shared objects.

Revision ID: 0015_retention
Revises: 0014_delivery
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_retention"
down_revision = "0014_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("retention", sa.JSON))
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("deleted_reason", sa.String(16)))
    op.create_index("ix_assets_key", "assets", ["key"])


def downgrade() -> None:
    op.drop_index("ix_assets_key", table_name="assets")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("deleted_reason")
        batch.drop_column("deleted_at")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("retention")
