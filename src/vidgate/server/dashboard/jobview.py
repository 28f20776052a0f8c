"""What a job's page shows, read once: the player's signed links, the attempts as a timeline,
the history, the provider calls, the assets and the money. Plain data for the templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..._clock import as_utc, utcnow
from ...types import Asset, Attempt, Job, JobEvent, RequestLogEntry
from ..gateway import Gateway

__all__ = ["Bar", "JobView", "job_view"]

#: Variants a person downloads, in the order the page lists them.
_ORDER = ("video", "original", "webm", "av1", "poster", "thumbnail", "preview", "sprite")


@dataclass(frozen=True)
class Bar:
    """One attempt on the timeline: where it starts and how long it runs, in % of the job."""

    attempt: Attempt
    left: float
    width: float
    seconds: float | None
    queued: float | None  # seconds from the job's creation to this attempt's submission


@dataclass
class JobView:
    links: dict[str, str] = field(default_factory=dict)
    hls: str | None = None
    poster: str | None = None
    sprite: str | None = None
    sprite_vtt: str | None = None
    bars: list[Bar] = field(default_factory=list)
    span: float = 0.0
    history: list[tuple[float, JobEvent]] = field(default_factory=list)
    calls: list[RequestLogEntry] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    money: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    held: bool = False
    #: Seconds spent in each phase (from the history), in the order the job went through them.
    phases: list[tuple[str, float]] = field(default_factory=list)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    a, b = as_utc(start), as_utc(end)
    return None if a is None or b is None else max(0.0, (b - a).total_seconds())


def job_view(gw: Gateway, base: str, job: Job) -> JobView:
    """Everything the page needs (database reads: run it off the event loop)."""
    view = JobView()
    view.held = job.scan is not None and job.scan.verdict == "block" and not job.scan.released
    live = [a for a in job.assets if a.deleted_at is None]
    kinds = {a.kind for a in live}
    if job.done and not view.held:
        for kind in _ORDER:
            if kind in kinds:
                view.links[kind] = gw.signed_url(base, job.id, kind)
        for a in live:  # the sized renditions (720p, 480p…) after the named ones
            if a.kind not in view.links and a.kind not in ("hls", "sprite_vtt"):
                view.links[a.kind] = gw.signed_url(base, job.id, a.kind)
        if "hls" in kinds:
            view.hls = f"{gw.signed_prefix(base, job.id, 'hls')}/master.m3u8"
        view.poster = view.links.get("poster") or view.links.get("thumbnail")
        if "sprite" in kinds and "sprite_vtt" in kinds:
            view.sprite = view.links.get("sprite")
            view.sprite_vtt = gw.signed_url(base, job.id, "sprite_vtt")
    view.assets = sorted(live, key=lambda a: (a.kind not in _ORDER, a.kind))
    _timeline(view, job)
    events = gw.engine.events(job.id)
    start = job.created_at
    view.history = [(_seconds(start, e.at) or 0.0, e) for e in events]
    view.phases = phase_times(events, job.completed_at or utcnow())
    view.calls = gw.engine.calls(job.id)
    view.money = gw.engine.money(job.id)
    skipped: Any = (job.routing or {}).get("skipped") or {}
    view.skipped = {str(k): str(v) for k, v in skipped.items()} if isinstance(skipped, dict) else {}
    return view


def _timeline(view: JobView, job: Job) -> None:
    end = job.completed_at or utcnow()
    span = _seconds(job.created_at, end) or 0.0
    view.span = span
    for attempt in job.attempts:
        begin = _seconds(job.created_at, attempt.submitted_at)
        length = _seconds(attempt.submitted_at, attempt.finished_at or end)
        if begin is None or span <= 0:
            view.bars.append(Bar(attempt, 0.0, 0.0, None, None))
            continue
        left = min(100.0, 100.0 * begin / span)
        width = max(0.5, min(100.0 - left, 100.0 * (length or 0.0) / span))
        view.bars.append(Bar(attempt, left, width, length, begin))


def phase_times(events: list[JobEvent], end: datetime) -> list[tuple[str, float]]:
    """How long the job was in each phase: from each history line to the next (the last one
    until ``end``), summed per phase; ``done`` and zero-length phases are left out."""
    totals: dict[str, float] = {}
    for i, here in enumerate(events):
        after = events[i + 1] if i + 1 < len(events) else None
        name = here.phase.value
        if name == "done":
            continue
        length = _seconds(here.at, after.at if after is not None else end) or 0.0
        totals[name] = totals.get(name, 0.0) + length
    return [(name, seconds) for name, seconds in totals.items() if seconds >= 0.05]
