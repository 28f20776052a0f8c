"""What admission needs of a tenant's row, read in one query.

A create used to read the ``tenants`` row three times (its default priority and strategies, its
safety policy, its client-webhook URL) on top of the guard's own read of its caps. Admission now
reads those columns once, before its transaction, and hands each part to the step that needs
it. Nothing is cached across requests: a change to the tenant applies to the next create.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..db import tenants

__all__ = ["TenantView", "read_tenant"]


@dataclass(frozen=True)
class TenantView:
    """A tenant's admission settings; ``None`` columns fall back to the operator's settings."""

    webhook_url: str | None = None
    default_priority: str | None = None
    strategies: Any = None
    safety_policy: Any = None


#: The library's local tenant has no row: every setting is the operator's.
NO_ROW = TenantView()

_READ = sa.select(
    tenants.c.webhook_url,
    tenants.c.default_priority,
    tenants.c.strategies,
    tenants.c.safety_policy,
).where(tenants.c.name == sa.bindparam("tenant"))


def read_tenant(engine: sa.Engine, tenant: str) -> TenantView:
    """The tenant's admission settings (``NO_ROW`` for a tenant without a row)."""
    with engine.connect() as conn:
        row = conn.execute(_READ, {"tenant": tenant}).first()
    if row is None:
        return NO_ROW
    return TenantView(
        webhook_url=str(row.webhook_url) if row.webhook_url else None,
        default_priority=row.default_priority,
        strategies=row.strategies,
        safety_policy=row.safety_policy,
    )
