"""The off-peak window batch jobs wait for (``VIDGATE_BATCH_WINDOW``, in
``VIDGATE_BATCH_TIMEZONE``): whether an instant is inside it, and when it next opens.

Pure functions of the instant they are given: the caller passes the clock, so tests move time
instead of waiting for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["BatchWindow"]

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class BatchWindow:
    """A daily window ``start`` to ``end`` of local time in ``zone``. One that ends at or before
    it starts runs over midnight (``22:00-06:00``); ``00:00-00:00`` is the whole day."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> BatchWindow:
        """``"22:00-06:00"`` in ``timezone`` (an IANA name). Raises ``ValueError`` saying what
        is wrong."""
        match = _SPAN.match(text)
        if not match:
            raise ValueError(f"a batch window looks like 22:00-06:00, not {text[:40]!r}")
        hours = (int(match[1]), int(match[3]))
        minutes = (int(match[2]), int(match[4]))
        if any(h > 23 for h in hours) or any(m > 59 for m in minutes):
            raise ValueError(f"a batch window's times are 00:00 to 23:59, not {text[:40]!r}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone[:64]!r}") from None
        return cls(time(hours[0], minutes[0]), time(hours[1], minutes[1]), zone)

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"

    def contains(self, now: datetime) -> bool:
        """Whether ``now`` (aware) is inside the window."""
        local = now.astimezone(self.zone).time().replace(tzinfo=None)
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_open(self, now: datetime) -> datetime:
        """When the window next opens at or after ``now``: ``now`` itself when it is open
        (aware, in UTC)."""
        if self.contains(now):
            return now.astimezone(UTC)
        local = now.astimezone(self.zone)
        opening = datetime.combine(local.date(), self.start, tzinfo=self.zone)
        if opening <= local:
            opening = datetime.combine(local.date() + timedelta(days=1), self.start, self.zone)
        return opening.astimezone(UTC)
