"""vidgate's own tables (jobs, attempts, assets, events, request log) and their migrations.

DBOS keeps its workflow state in its own tables, in the same database; ours are versioned with
Alembic under the version table ``vidgate_alembic_version``.
"""

from __future__ import annotations

from .engine import make_dbos_engine, make_engine, upgrade
from .tables import (
    api_keys,
    assets,
    attempts,
    budget_alerts,
    budgets,
    job_events,
    jobs,
    ledger,
    metadata,
    provider_balances,
    provider_health,
    rate_windows,
    request_log,
    result_cache,
    safety_decisions,
    tenants,
    webhook_deliveries,
    workers,
)

__all__ = [
    "api_keys",
    "assets",
    "attempts",
    "budget_alerts",
    "budgets",
    "job_events",
    "jobs",
    "ledger",
    "make_dbos_engine",
    "make_engine",
    "metadata",
    "provider_balances",
    "provider_health",
    "rate_windows",
    "request_log",
    "safety_decisions",
    "result_cache",
    "tenants",
    "webhook_deliveries",
    "workers",
    "upgrade",
]
