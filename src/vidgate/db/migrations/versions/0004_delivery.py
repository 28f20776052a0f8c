"""Client-webhook deliveries are claimed with a lease, so every worker can deliver.

A claim sets ``claimed_by`` (the claiming process) and ``claimed_until`` (when the claim lapses)
in one update of due, unclaimed rows; a crashed claimer's rows are due again once its lease has
passed. Rows the old single-sender loop left in ``sending`` become ``pending`` again.

Revision ID: 0004_delivery
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_delivery"
down_revision = "0003"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(128)))
        batch.add_column(sa.Column("claimed_until", _ts))
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.execute("UPDATE webhook_deliveries SET status = 'pending' WHERE status = 'sending'")


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", "webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
