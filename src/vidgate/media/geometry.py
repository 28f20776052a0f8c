"""Frame sizes from a resolution tier and an aspect ratio."""

from __future__ import annotations

__all__ = ["dimensions_for"]


def dimensions_for(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """``("720p", "9:16")`` → ``(720, 1280)``: the short side is the tier's number, the long side
    follows the aspect ratio, both rounded to even numbers as H.264 with 4:2:0 needs."""
    short = int(resolution.removesuffix("p"))
    w, h = (int(part) for part in aspect_ratio.split(":"))
    width: float
    height: float
    if w >= h:
        height, width = short, short * w / h
    else:
        width, height = short, short * h / w
    return _even(width), _even(height)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
