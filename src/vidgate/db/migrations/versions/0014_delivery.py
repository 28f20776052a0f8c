"""Delivery (issue 13): each tenant's own delivery profile (`tenants.delivery_profile`, JSON
text merged over VIDGATE_DELIVERY_PROFILE). Nothing new on `assets`: a variant's facts go in
its row's `media` JSON, under `rendition`.

Revision ID: 0014_delivery
Revises: 0013_result_cache
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_delivery"
down_revision = "0013_result_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("delivery_profile", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("delivery_profile")
