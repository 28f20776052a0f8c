"""Output scanning: the scan verdict on each job, and the quarantine of blocked outputs.

Revision ID: 0011_quarantine
Revises: 0010_content_safety
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_quarantine"
down_revision = "0010_content_safety"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("scan", sa.JSON))
    op.create_table(
        "quarantine",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("attempt_id", sa.String(64), nullable=False),
        sa.Column("attempt_number", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("video_key", sa.String(512), nullable=False),
        sa.Column("thumbnail_key", sa.String(512)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("sha256", sa.String(64)),
        sa.Column("media", sa.JSON),
        sa.Column("scan", sa.JSON, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("resolved_at", _ts),
        sa.Column("resolved_by", sa.String(128)),
        sa.UniqueConstraint("attempt_id", name="uq_quarantine_attempt"),
        sa.Index("ix_quarantine_status_created", "status", "created_at"),
        sa.Index("ix_quarantine_job", "job_id"),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("scan")
