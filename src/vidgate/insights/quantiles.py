"""Percentiles computed in Python over a window's rows, so SQLite and PostgreSQL agree.

The method is linear interpolation between the closest ranks — PostgreSQL's
``percentile_cont`` and numpy's default: for ``n`` sorted values the ``q`` percentile sits at
rank ``(n - 1) * q``; between two ranks the value is interpolated. One value is every
percentile of itself; no value has none.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` (0..1) percentile of ``values`` (any order); None when there are none."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q is a fraction between 0 and 1")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
