"""Named time windows and the buckets a series is cut into, all from an injected ``now``.

A window is ``[start, end)`` in aware UTC, ending at ``now``:

- ``rolling(name, now)``: the last hour, day (24 h), week (7 days) or month (30 days) exactly;
  what the provider figures use.
- ``aligned(name, bucket, now, timezone)``: the same span, but starting on a bucket boundary
  on the wall clock of ``timezone`` (a tenant's calendar, UTC by default), so every bucket of a
  series is whole except the current one: a day in hour buckets is 24 buckets, the last one
  running; a week in day buckets is 7 local days, today included.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..accounting.periods import zone
from ..exceptions import InvalidRequest

__all__ = [
    "BUCKETS",
    "SERIES_WINDOWS",
    "STATS_WINDOWS",
    "WINDOWS",
    "Window",
    "aligned",
    "default_bucket",
    "parse_bucket",
    "parse_window",
    "rolling",
]

#: Every named window and its span.
SPANS = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
}
WINDOWS = tuple(SPANS)
#: The windows provider figures are asked over.
STATS_WINDOWS = ("hour", "day", "week")
#: The windows a spend series covers.
SERIES_WINDOWS = ("day", "week", "month")
#: Bucket sizes: an hour or a (calendar) day.
BUCKETS = ("hour", "day")


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in aware UTC; ``buckets`` are the starts of its buckets (aware UTC,
    ascending; empty for a rolling window)."""

    name: str
    start: datetime
    end: datetime
    bucket: str | None = None
    timezone: str = "UTC"
    buckets: tuple[datetime, ...] = field(default=())

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def bucket_of(self, at: datetime) -> int:
        """The index of the bucket ``at`` (inside the window) falls in."""
        if not self.buckets:
            raise ValueError("a rolling window has no buckets")
        return max(bisect.bisect_right(self.buckets, at) - 1, 0)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }
        if self.bucket is not None:
            found["bucket"] = self.bucket
            found["timezone"] = self.timezone
        return found


def _choose(what: str, text: str | None, choices: tuple[str, ...]) -> str:
    value = (text or "").strip().lower()
    if value not in choices:
        raise InvalidRequest(
            f"{what} is one of {', '.join(choices)}, not {(text or '')[:40]!r}",
            details={"parameter": what, "choices": list(choices)},
        )
    return value


def parse_window(text: str | None, choices: tuple[str, ...] = STATS_WINDOWS) -> str:
    """``text`` as a window name among ``choices``; ``InvalidRequest`` listing them if not."""
    return _choose("window", text, choices)


def parse_bucket(text: str | None) -> str:
    """``text`` as a bucket size (hour or day); ``InvalidRequest`` listing them if not."""
    return _choose("bucket", text, BUCKETS)


def default_bucket(window: str) -> str:
    """Hour buckets for an hour or a day, day buckets for a week or a month."""
    return "hour" if window in ("hour", "day") else "day"


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


def rolling(name: str, now: datetime) -> Window:
    """The last ``name`` (hour, day, week, month) up to ``now``."""
    end = _utc(now)
    return Window(parse_window(name, WINDOWS), end - SPANS[name], end)


def aligned(name: str, bucket: str, now: datetime, timezone: str | None = None) -> Window:
    """The window ``name`` in ``bucket``s of ``timezone``'s wall clock, its first bucket whole
    and its last the one holding ``now``."""
    name = parse_window(name, WINDOWS)
    bucket = parse_bucket(bucket)
    end = _utc(now)
    tz = zone(timezone)
    local = end.astimezone(tz)
    if bucket == "hour":
        count = int(SPANS[name] / timedelta(hours=1))
        # Whole-hour steps in UTC from the local hour holding now (a zone with a half-hour
        # offset keeps its own :30 boundaries).
        last = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        starts = [last - timedelta(hours=count - 1 - i) for i in range(count)]
    else:
        count = max(int(SPANS[name] / timedelta(days=1)), 1)
        today = local.date()
        # Each day's start rebuilt on the wall clock, so its UTC offset is the one in force then.
        starts = [
            datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)
            for d in (today - timedelta(days=count - 1 - i) for i in range(count))
        ]
    return Window(
        name,
        starts[0],
        end,
        bucket=bucket,
        timezone=getattr(tz, "key", "UTC"),
        buckets=tuple(starts),
    )
