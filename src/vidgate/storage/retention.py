"""Retention policy: how long stored files are kept, per tenant over the operator's default.

Three classes of file, each with its own number of days (None: kept until deleted):

- **originals**: a job's ``original`` and ``video`` assets (what the provider made, and the video
  as delivered);
- **renditions**: every other asset of a job (thumbnail, smaller tiers, WebM, HLS, poster,
  sprite, preview); unset, they follow the originals;
- **quarantined**: outputs the content scan held (``quarantine/…``), counted from when they were
  held; an admin's release or delete ends the hold first.

The tenant's own policy (``tenants.retention``, JSON) overrides the settings key by key. The
engine's sweeper (``engine/retention.py``) applies it; this module only decides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..settings import Settings

__all__ = ["ORIGINAL_KINDS", "RetentionPolicy", "policy_class"]

#: Asset kinds that count as originals; every other kind is a rendition.
ORIGINAL_KINDS = frozenset({"original", "video"})
_KEYS = ("originals_days", "renditions_days", "quarantine_days")


@dataclass(frozen=True)
class RetentionPolicy:
    originals_days: float | None = None
    renditions_days: float | None = None
    quarantine_days: float | None = None

    @classmethod
    def default(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            originals_days=settings.retention_originals_days,
            renditions_days=settings.retention_renditions_days,
            quarantine_days=settings.retention_quarantine_days,
        )

    @classmethod
    def parse(cls, value: Any) -> dict[str, float | None]:
        """A tenant's stored or submitted policy, checked: only the three keys, each a
        positive number of days or null. Raises ``ValueError``."""
        if not isinstance(value, dict):
            raise ValueError("a retention policy is an object of days")
        unknown = set(value) - set(_KEYS)
        if unknown:
            raise ValueError(f"unknown retention keys {sorted(unknown)}; known: {list(_KEYS)}")
        checked: dict[str, float | None] = {}
        for key, days in value.items():
            if days is not None and (
                isinstance(days, bool) or not isinstance(days, int | float) or not days > 0
            ):
                raise ValueError(f"{key} must be a positive number of days or null")
            checked[key] = None if days is None else float(days)
        return checked

    def over(self, own: dict[str, Any] | None) -> RetentionPolicy:
        """This policy with a tenant's own keys on top."""
        return replace(self, **self.parse(own)) if own else self

    def days(self, kind: str) -> float | None:
        """How long an asset of ``kind`` is kept."""
        if kind in ORIGINAL_KINDS:
            return self.originals_days
        return self.renditions_days if self.renditions_days is not None else self.originals_days

    def expired(self, kind: str, since: datetime, now: datetime) -> bool:
        days = self.quarantine_days if kind == "quarantine" else self.days(kind)
        return days is not None and since + timedelta(days=days) <= now

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def policy_class(kind: str) -> str:
    """``originals`` | ``renditions`` | ``quarantine``: which of the policy's numbers applies."""
    if kind == "quarantine":
        return "quarantine"
    return "originals" if kind in ORIGINAL_KINDS else "renditions"
