"""Check that an output video is what was asked for.

:func:`problems` compares a probe result (:class:`~vidgate.types.MediaInfo`) with what the request
asked for (:class:`Expected`) and returns one sentence per mismatch, each saying what was asked and
what came back. :func:`check_output` raises :class:`~vidgate.exceptions.OutputMismatch` with those
sentences. Providers round durations and sizes, so each check has a tolerance (:class:`Tolerances`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from vidgate.exceptions import OutputMismatch
from vidgate.types import MediaInfo

__all__ = ["Expected", "Tolerances", "check_output", "problems"]

_FPS_FRACTION = 0.01
# Ratios worth naming when we describe what came back ("16:9" reads better than "1280:720").
_NAMED_RATIOS = (
    "16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "9:21", "3:2", "2:3", "4:5", "5:4", "2:1", "1:2",
)  # fmt: skip


@dataclass(frozen=True)
class Tolerances:
    """How far an output may drift from the request before it counts as a mismatch.

    Duration may be off by ``duration_seconds`` or ``duration_fraction`` of the asked duration,
    whichever is larger; aspect ratio and each side of the frame size by a fraction of the asked
    value. The video codec must be one of ``codecs``.
    """

    duration_seconds: float = 0.3
    duration_fraction: float = 0.05
    aspect_fraction: float = 0.02
    size_fraction: float = 0.03
    codecs: frozenset[str] = frozenset({"h264", "hevc", "vp9", "av1"})


@dataclass(frozen=True)
class Expected:
    """What the request asked for. ``None`` means "not asked, do not check"."""

    duration: float
    aspect_ratio: str | None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio: bool | None = None


def _ratio_value(aspect_ratio: str) -> float:
    try:
        w, h = (float(part) for part in aspect_ratio.split(":"))
    except ValueError as exc:
        raise ValueError(f"aspect ratio must look like 16:9, not {aspect_ratio!r}") from exc
    if w <= 0 or h <= 0:
        raise ValueError(f"aspect ratio must look like 16:9, not {aspect_ratio!r}")
    return w / h


def _three_places(value: float) -> str:
    """``0.5625`` → ``"0.563"``: round half up, as people do (``format`` rounds half to even)."""
    return str(Decimal(repr(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def _describe_ratio(width: int, height: int) -> str:
    """``1280x720`` → ``16:9``; sizes that match no common ratio are reduced (``683:384``)."""
    value = width / height
    for name in _NAMED_RATIOS:
        if abs(_ratio_value(name) - value) / value < 0.005:
            return name
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def _check_duration(info: MediaInfo, expected: Expected, tol: Tolerances) -> str | None:
    allowed = max(tol.duration_seconds, tol.duration_fraction * expected.duration)
    if abs(info.duration - expected.duration) <= allowed:
        return None
    return (
        f"duration is {info.duration:.2f} s, asked for {expected.duration:.2f} s "
        f"(tolerance ±{allowed:.2f} s)"
    )


def _check_aspect(info: MediaInfo, expected: Expected, tol: Tolerances) -> str | None:
    if expected.aspect_ratio is None:
        return None
    asked = _ratio_value(expected.aspect_ratio)
    if info.width <= 0 or info.height <= 0:
        return f"the video has no frame size, asked for aspect ratio {expected.aspect_ratio}"
    got = info.width / info.height
    if abs(got - asked) / asked <= tol.aspect_fraction:
        return None
    return (
        f"aspect ratio is {_describe_ratio(info.width, info.height)} ({_three_places(got)}), "
        f"asked for {expected.aspect_ratio} ({_three_places(asked)})"
    )


def _check_size(info: MediaInfo, expected: Expected, tol: Tolerances) -> str | None:
    def off(got: int, asked: int | None) -> bool:
        return asked is not None and abs(got - asked) > tol.size_fraction * asked

    if not (off(info.width, expected.width) or off(info.height, expected.height)):
        return None
    if expected.width is not None and expected.height is not None:
        asked = f"{expected.width}x{expected.height}"
    elif expected.width is not None:
        asked = f"width {expected.width}"
    else:
        asked = f"height {expected.height}"
    return f"resolution is {info.width}x{info.height}, asked for {asked}"


def _check_codec(info: MediaInfo, tol: Tolerances) -> str | None:
    if info.video_codec in tol.codecs:
        return None
    allowed = ", ".join(sorted(tol.codecs))
    got = info.video_codec or "unknown"
    return f"video codec is {got}, which is not one of the allowed codecs ({allowed})"


def _check_fps(info: MediaInfo, expected: Expected) -> str | None:
    if expected.fps is None:
        return None
    if info.fps is None:
        return f"frame rate is unknown, asked for {expected.fps:g} fps"
    if abs(info.fps - expected.fps) <= _FPS_FRACTION * expected.fps:
        return None
    return f"frame rate is {info.fps:.2f} fps, asked for {expected.fps:g} fps (tolerance ±1%)"


def problems(
    info: MediaInfo, expected: Expected, tolerances: Tolerances = Tolerances()
) -> list[str]:
    """Every way ``info`` differs from ``expected`` beyond ``tolerances``, one sentence each.

    An empty list means the output is acceptable. Audio is checked only one way: asked for and
    missing is a problem; present but not asked for is not (it can be dropped downstream).
    """
    found = [
        _check_duration(info, expected, tolerances),
        _check_aspect(info, expected, tolerances),
        _check_size(info, expected, tolerances),
        _check_codec(info, tolerances),
        _check_fps(info, expected),
    ]
    if expected.audio and not info.has_audio:
        found.append("audio was asked for, but the video has no audio track")
    return [problem for problem in found if problem]


def check_output(
    info: MediaInfo, expected: Expected, tolerances: Tolerances = Tolerances()
) -> None:
    """Raise :class:`OutputMismatch` (listing every problem) unless ``info`` matches."""
    found = problems(info, expected, tolerances)
    if found:
        raise OutputMismatch(
            found,
            details={
                "expected": dataclasses.asdict(expected),
                "got": info.model_dump(mode="json"),
            },
        )
