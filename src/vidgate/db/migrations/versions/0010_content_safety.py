"""Content safety: a tenant's own safety policy, a job's moderation verdict, and the audit of
every safety decision.

Revision ID: 0010_content_safety
Revises: 0009_cost_basis
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_content_safety"
down_revision = "0009_cost_basis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("safety_policy", sa.Text))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("moderation", sa.JSON))
    op.create_table(
        "safety_decisions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(64)),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("moderator", sa.String(255), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_safety_decisions_tenant_created", "safety_decisions", ["tenant", "created_at"]
    )
    op.create_index("ix_safety_decisions_job", "safety_decisions", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_safety_decisions_job", "safety_decisions")
    op.drop_index("ix_safety_decisions_tenant_created", "safety_decisions")
    op.drop_table("safety_decisions")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("moderation")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("safety_policy")
