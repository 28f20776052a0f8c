"""Budget periods: a tenant's calendar day and month, in its time zone (UTC by default).

A period is ``[start, end)`` as aware UTC datetimes; its boundaries are midnight (and the first
of the month) on the tenant's wall clock, so a tenant in ``America/New_York`` resets at 05:00 or
04:00 UTC with daylight saving time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..exceptions import InvalidRequest

__all__ = ["PERIODS", "Period", "period_of", "zone"]

#: The periods a budget or a quota can cover.
PERIODS = ("day", "month")


@dataclass(frozen=True)
class Period:
    kind: str  # day | month
    start: datetime  # aware UTC
    end: datetime  # aware UTC: when it resets

    @property
    def key(self) -> str:
        """A stable name for the period, e.g. ``day:2026-12-01`` (the tenant's calendar)."""
        return f"{self.kind}:{self.start.isoformat()}"


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (None or '' is UTC); ``InvalidRequest`` if unknown."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64:
        raise InvalidRequest("a time zone name has at most 64 characters")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
        ) from None


def period_of(kind: str, now: datetime, timezone: str | None = None) -> Period:
    """The day or month containing ``now`` on the wall clock of ``timezone``."""
    tz = zone(timezone)
    local = now.astimezone(tz)
    if kind == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=1, hours=3)).replace(hour=0)  # safe across DST
    elif kind == "month":
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"a period is one of {PERIODS}, not {kind!r}")
    # Rebuild each boundary on the wall clock, so its UTC offset is the one in force then.
    start = datetime(start.year, start.month, start.day, tzinfo=tz)
    end = datetime(end.year, end.month, end.day, tzinfo=tz)
    return Period(kind, start.astimezone(UTC), end.astimezone(UTC))
