"""The result cache: the `result_cache` table, the job's `cached` record (served from which
job, how matched) and each tenant's similarity threshold for `cache: "similar"`.

Revision ID: 0013_result_cache
Revises: 0009_cost_basis
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_result_cache"
down_revision = "0012_priority_schedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cached", sa.JSON))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("cache_similarity", sa.Float))
    op.create_table(
        "result_cache",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("end_user", sa.String(128), nullable=False, server_default=""),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("rest_key", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False, unique=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("embedding", sa.LargeBinary),
        sa.Column("embedding_model", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_result_cache_key", "result_cache", ["tenant", "key"])
    op.create_index("ix_result_cache_rest", "result_cache", ["tenant", "rest_key"])


def downgrade() -> None:
    op.drop_index("ix_result_cache_rest", "result_cache")
    op.drop_index("ix_result_cache_key", "result_cache")
    op.drop_table("result_cache")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("cache_similarity")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cached")
