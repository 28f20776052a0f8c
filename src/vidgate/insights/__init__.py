"""Windowed figures (issue 14): provider figures and spend over the last hour, day, week or
month, read once here for the API, ``/metrics``, the CLI and the dashboard.

Imports vidgate's types, settings, exceptions, clock, database tables, catalogue and
accounting — never the engine, the server or the CLI (they call into it). Every function takes
the SQLAlchemy engine on vidgate's tables and an aware-UTC ``now``.
"""

from __future__ import annotations

from .providers import ModelStats, ProviderStats, provider_stats
from .quantiles import percentile
from .spend import (
    SERIES_BY,
    MonthToDate,
    Series,
    SpendLine,
    SpendSeries,
    month_to_date,
    spend_series,
)
from .windows import BUCKETS, SERIES_WINDOWS, STATS_WINDOWS, Window, aligned, rolling

__all__ = [
    "BUCKETS",
    "SERIES_BY",
    "SERIES_WINDOWS",
    "STATS_WINDOWS",
    "ModelStats",
    "MonthToDate",
    "ProviderStats",
    "Series",
    "SpendLine",
    "SpendSeries",
    "Window",
    "aligned",
    "month_to_date",
    "percentile",
    "provider_stats",
    "rolling",
    "spend_series",
]
