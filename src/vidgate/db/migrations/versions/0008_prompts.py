"""Prompts: the linter's hints on a job, what each attempt sent, and per-tenant templates.

Revision ID: 0008_prompts
Revises: 0007_budgets
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_prompts"
down_revision = "0007_budgets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("hints", sa.JSON))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("prompt_sent", sa.JSON))
    op.create_table(
        "prompt_templates",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prompt_templates")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("prompt_sent")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("hints")
