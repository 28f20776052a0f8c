"""The Replicate simulator twin's prediction object: a prediction's state at a moment (from its
timeline, a cancel or its ``Cancel-After`` deadline), its tqdm-style logs, and the JSON that
``GET /v1/predictions/{id}`` (and every webhook) shows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .state import SimState, SimTask

__all__ = ["PROVIDER", "TERMINAL", "output_shown_at"]

PROVIDER = "replicate"
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})

_QUEUED_FRACTION = 0.15  # as SimTask.at: the first 15 % of the latency is spent queued
_EARLY_OUTPUT = 0.9  # the output URL appears at 90 % of the run, before ``succeeded``

_FLAGGED = {
    1: "The input or output was flagged as sensitive. Please try again with different inputs. "
    "(E005)",
    2: "Content flagged: the prompt or image was rejected by the model provider's safety "
    "filter (sensitive content).",
}
_FAILED = {
    1: "Prediction interrupted; please retry (code: PA)",
    2: "Traceback (most recent call last): RuntimeError: generation produced no frames",
}


# -- the prediction object ---------------------------------------------------------------------


def _iso(timestamp: float) -> str:
    """RFC 3339 with microseconds and ``Z``, as Replicate writes times."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Snapshot:
    status: str
    progress: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None


def _latency(task: SimTask) -> float:
    return task.latency * (5 if "slow" in task.faults else 1)


def _started(task: SimTask) -> float:
    fraction = 1.0 if "throttled" in task.faults else _QUEUED_FRACTION
    return task.created_at + fraction * _latency(task)


def output_shown_at(task: SimTask) -> float:
    """When a running prediction's output URL first shows (``_EARLY_OUTPUT`` of the run), a
    millisecond late so that the rounded progress has reached it."""
    fraction = _QUEUED_FRACTION + _EARLY_OUTPUT * (1 - _QUEUED_FRACTION)
    return task.created_at + fraction * _latency(task) + 0.001


def _run_state(task: SimTask, now: float) -> _Snapshot:
    """The prediction's state at ``now`` from its timeline alone (no cancel, no deadline)."""
    created = task.created_at
    if "moderation" in task.faults:
        message = _FLAGGED.get(int(task.faults.value("moderation", 1)), _FLAGGED[1])
        return _Snapshot("failed", completed_at=created, error=message)
    started = _started(task)
    model_error = task.extra.get("model_error")
    if model_error:
        if now < started:
            return _Snapshot("starting")
        return _Snapshot("failed", started_at=started, completed_at=started, error=model_error)
    timeline = dataclasses.replace(task, canceled_at=None).at(now)
    latency = _latency(task)
    if timeline.phase in ("queued", "throttled"):
        return _Snapshot("starting")
    if timeline.phase == "running":
        progress = (timeline.progress - _QUEUED_FRACTION) / (1 - _QUEUED_FRACTION)
        return _Snapshot("processing", max(0.0, progress), started_at=min(started, now))
    if timeline.phase == "succeeded":
        done = created + latency
        return _Snapshot("succeeded", 1.0, started_at=min(started, done), completed_at=done)
    if timeline.failure == "moderation":
        done = created + task.faults.value("moderation-after", 1.0)
        return _Snapshot(
            "failed",
            started_at=started if started <= done else None,
            completed_at=done,
            error=_FLAGGED[1],
        )
    done = created + 0.6 * latency
    message = _FAILED.get(int(task.faults.value("fail", 1)), _FAILED[1])
    return _Snapshot("failed", 0.5, started_at=min(started, done), completed_at=done, error=message)


def _state(task: SimTask, now: float) -> _Snapshot:
    """The prediction's state at ``now``: a cancel or a ``Cancel-After`` deadline first."""
    deadline: float | None = task.extra.get("deadline")
    canceled = task.canceled_at
    if canceled is not None and (deadline is None or canceled < deadline) and now >= canceled:
        before = _run_state(task, canceled)
        if before.status not in TERMINAL:
            return _Snapshot("canceled", before.progress, before.started_at, canceled)
    if deadline is not None and now >= deadline:
        before = _run_state(task, deadline)
        if before.status == "starting":
            return _Snapshot("aborted", completed_at=deadline)
        if before.status == "processing":
            return _Snapshot("canceled", before.progress, before.started_at, deadline)
    return _run_state(task, now)


def _logs(task: SimTask, snapshot: _Snapshot) -> str:
    if snapshot.started_at is None:
        return ""
    lines = [f"Using seed: {task.spec.seed}", "Generating video..."]
    percent = int(snapshot.progress * 100)
    for step in [*range(0, percent, 10), percent]:
        bar = "█" * (step // 10) + " " * (10 - step // 10)
        lines.append(f"{step:3d}%|{bar}| {step}/100")
    if snapshot.status == "succeeded":
        lines.append("Video generated.")
    return "\n".join(lines) + "\n"


def _base(sim: SimState) -> str:
    return f"{sim.config.public_url}/replicate"


def _prediction(sim: SimState, task: SimTask, now: float) -> dict[str, Any]:
    """The prediction as ``GET /v1/predictions/{id}`` shows it at ``now``."""
    snapshot = _state(task, now)
    extra = task.extra
    url = f"{_base(sim)}/v1/predictions/{task.id}"
    body: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "version": extra["version"],
        "input": extra["input"],
        "logs": _logs(task, snapshot),
        "output": None,
        "data_removed": False,
        "error": snapshot.error,
        "status": snapshot.status,
        "source": "api",
        "created_at": _iso(task.created_at),
        "urls": {"get": url, "cancel": url + "/cancel", "web": f"{_base(sim)}/p/{task.id}"},
    }
    if extra.get("deadline") is not None:
        body["deadline"] = _iso(extra["deadline"])
    if snapshot.started_at is not None:
        body["started_at"] = _iso(snapshot.started_at)
    ttl = sim.config.url_ttl
    if snapshot.completed_at is not None:
        body["completed_at"] = _iso(snapshot.completed_at)
        predict = snapshot.completed_at - (snapshot.started_at or snapshot.completed_at)
        body["metrics"] = {
            "predict_time": round(predict, 6),
            "total_time": round(snapshot.completed_at - task.created_at, 6),
        }
        if snapshot.status == "succeeded":
            # Official video models bill per second of output, and say how many.
            body["metrics"]["video_output_duration_seconds"] = task.spec.duration
        removed = now >= snapshot.completed_at + ttl or (
            "expired-url" in task.faults and extra.get("output_shown")
        )
        if removed:
            return {**body, "input": {}, "logs": "", "data_removed": True}
        ttl = snapshot.completed_at + ttl - now
    has_output = snapshot.status == "succeeded" and "missing-output" not in task.faults
    early = snapshot.status == "processing" and snapshot.progress >= _EARLY_OUTPUT
    if has_output or early:
        body["output"] = sim.signed_url(task, ttl=ttl)
    return body
