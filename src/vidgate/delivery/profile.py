"""What a job delivers: the :class:`DeliveryProfile` and its JSON form.

The operator sets a default with ``VIDGATE_DELIVERY_PROFILE`` (JSON); a tenant's own profile
(``tenants.delivery_profile``) is merged over it key by key. Every key is optional::

    {"tiers": ["720p", "480p"], "webm": false, "av1": false, "hls": true,
     "poster": true, "sprite": true, "preview": true}

``tiers`` are the smaller sizes made besides the browser-safe MP4 at the source's own size; a
tier is named by its short side (``"480p"`` is 854x480 for a 16:9 clip, 480x854 for 9:16) and
is skipped when it is not smaller than the source. Anything else — an unknown key, a wrong type,
an unknown tier — raises :class:`~vidgate.exceptions.InvalidDeliveryProfile` naming the key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from vidgate.exceptions import InvalidDeliveryProfile

__all__ = ["DEFAULT_PROFILE", "TIERS", "DeliveryProfile", "parse_profile"]

#: The tiers a profile may name: short side in pixels → the peak bit rate (bits/s) its H.264
#: encode is capped at (capped CRF: a simple scene uses less, HLS's BANDWIDTH is measured).
TIERS: dict[str, int] = {
    "2160p": 16_000_000,
    "1440p": 9_000_000,
    "1080p": 6_000_000,
    "720p": 3_500_000,
    "540p": 2_200_000,
    "480p": 1_600_000,
    "360p": 900_000,
    "240p": 450_000,
    "144p": 250_000,
}


@dataclass(frozen=True)
class DeliveryProfile:
    """What :func:`vidgate.delivery.build.build` makes from a job's output (besides the
    original, which is always kept, and the browser-safe MP4 at the source size)."""

    #: Smaller H.264 MP4 tiers, by short side ("720p", "480p"); larger ones are skipped.
    tiers: tuple[str, ...] = ("480p",)
    #: A WebM (VP9 + Opus) at the source size.
    webm: bool = False
    #: An AV1 MP4 (AV1 + AAC) at the source size.
    av1: bool = False
    #: HLS: fMP4 segments of every H.264 size and a master playlist over them.
    hls: bool = True
    #: A poster JPEG (the frame a third of the way in, at the source size).
    poster: bool = True
    #: A thumbnail sprite JPEG (one tile per interval) and its WebVTT track.
    sprite: bool = True
    #: A short animated WebP (the clip sped up into a few seconds).
    preview: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tiers"] = list(self.tiers)
        return data


DEFAULT_PROFILE = DeliveryProfile()

_BOOLS = tuple(f.name for f in fields(DeliveryProfile) if f.name != "tiers")


def _load(value: str | dict[str, Any], where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise InvalidDeliveryProfile(
            f"{where} is not JSON", details={"field": None, "where": where}
        ) from None
    if not isinstance(data, dict):
        raise InvalidDeliveryProfile(
            f"{where} must be a JSON object", details={"field": None, "where": where}
        )
    return data


def _tiers(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InvalidDeliveryProfile(
            f'{where}: tiers must be a list of names like "480p"',
            details={"field": "tiers", "where": where},
        )
    unknown = [t for t in value if t not in TIERS]
    if unknown:
        raise InvalidDeliveryProfile(
            f"{where}: unknown tier {unknown[0][:32]!r} (known: {', '.join(TIERS)})",
            details={"field": "tiers", "where": where, "known": list(TIERS)},
        )
    # Largest first, each once: the order HLS lists them in.
    return tuple(sorted(set(value), key=lambda t: -int(t.removesuffix("p"))))


def parse_profile(
    value: str | dict[str, Any] | None,
    base: DeliveryProfile = DEFAULT_PROFILE,
    *,
    where: str = "the delivery profile",
) -> DeliveryProfile:
    """``value`` (JSON text or an already parsed object) merged over ``base``; None is
    ``base``. Raises :class:`InvalidDeliveryProfile` naming the offending key."""
    if value is None:
        return base
    data = _load(value, where)
    merged = base.as_dict()
    for key, item in data.items():
        if key == "tiers":
            merged["tiers"] = _tiers(item, where)
        elif key in _BOOLS:
            if not isinstance(item, bool):
                raise InvalidDeliveryProfile(
                    f"{where}: {key} must be true or false",
                    details={"field": key, "where": where},
                )
            merged[key] = item
        else:
            raise InvalidDeliveryProfile(
                f"{where}: unknown key {str(key)[:40]!r} (known: tiers, {', '.join(_BOOLS)})",
                details={"field": str(key)[:40], "where": where},
            )
    merged["tiers"] = tuple(merged["tiers"])
    return DeliveryProfile(**merged)
