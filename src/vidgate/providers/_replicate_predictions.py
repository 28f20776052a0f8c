"""Reading Replicate's prediction objects for the Replicate adapter
(:mod:`vidgate.providers.replicate`): a prediction (create, ``GET`` or webhook body) as a
``TaskStatus``, its progress from the tqdm-style logs, a failure classified into a vidgate error,
and whether a listed prediction is the one a create would have made.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..exceptions import ContentRejected, GenerationFailed, ProviderError
from .base import OutputRef, ProviderCharge, TaskState, TaskStatus

__all__ = ["failure_error", "parse_progress", "status_of"]

_STATES = {
    "starting": TaskState.QUEUED,
    "processing": TaskState.RUNNING,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "canceled": TaskState.CANCELED,
    "aborted": TaskState.CANCELED,
}
#: Words in a failed prediction's ``error`` that mean moderation refused the content.
_FLAGGED = re.compile(
    r"\bE005\b|flagged|sensitive|nsfw|safety|content[ _-]?polic|moderat|inappropriate", re.I
)
#: Failures Replicate itself calls transient.
_RETRY_LATER = re.compile(r"please retry|\(code: PA\)|interrupted", re.I)
_ERROR_CODE = re.compile(r"\((E\d{3,4})\)|\bcode: ([A-Z]{1,4})\b")
#: tqdm's progress line, as R-SDK1's ``Prediction.Progress`` parses it.
_PROGRESS = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*(\d+)/(\d+)")


# -- reading predictions ------------------------------------------------------------------------


def parse_progress(logs: Any) -> float | None:
    """0..1 from the last tqdm-style line in ``logs``, or None when there is none."""
    if not isinstance(logs, str) or not logs:
        return None
    for line in reversed(logs.splitlines()):
        match = _PROGRESS.match(line)
        if match:
            return min(max(int(match[1]) / 100, 0.0), 1.0)
    return None


def _error_code(text: str) -> str | None:
    match = _ERROR_CODE.search(text)
    if match is None:
        return None
    return match[1] or match[2]


def failure_error(prediction: dict[str, Any], provider: str = "replicate") -> ProviderError:
    """The vidgate error for a ``failed`` prediction, from its ``error`` text."""
    remote_id = prediction.get("id")
    text = str(prediction.get("error") or "no reason given")
    code = _error_code(text)
    details: dict[str, Any] = {"remote_id": remote_id}
    message = f"Replicate prediction {remote_id} failed: {text}"
    if _FLAGGED.search(text):
        # Replicate does not say which side was flagged: a prediction that never started
        # processing was refused on its input, one that ran was refused on its output.
        stage = "output" if prediction.get("started_at") else "input"
        return ContentRejected(
            message,
            provider=provider,
            stage=stage,
            provider_code=code or "flagged",
            details=details,
        )
    details["retry_later"] = bool(_RETRY_LATER.search(text))
    return GenerationFailed(message, provider=provider, provider_code=code, details=details)


def _outputs(output: Any) -> list[str]:
    """The output URL(s): a string for video models, sometimes a list."""
    if isinstance(output, str) and output:
        return [output]
    if isinstance(output, list):
        return [u for u in output if isinstance(u, str) and u]
    return []


def _ended(prediction: dict[str, Any], provider: str) -> dict[str, Any]:
    remote_id = prediction.get("id")
    if prediction.get("status") == "aborted":
        text = "was aborted before it started (its Cancel-After deadline passed while queued)"
        code = "aborted"
    else:
        text = "was canceled (by a cancel request, or its Cancel-After deadline while running)"
        code = "canceled"
    return GenerationFailed(
        f"Replicate prediction {remote_id} {text}",
        provider=provider,
        provider_code=code,
        details={"remote_id": remote_id},
    ).to_dict()


def status_of(prediction: dict[str, Any], provider: str = "replicate") -> TaskStatus:
    """A prediction object (``GET``, create or webhook body) as a ``TaskStatus``."""
    raw = str(prediction.get("status", ""))
    # An unknown status is a prediction that exists and has not said it is finished.
    state = _STATES.get(raw, TaskState.RUNNING)
    status = TaskStatus(state=state, raw_status=raw, charge=_charge(prediction, state))
    if state is TaskState.QUEUED:
        status.progress = 0.0
    elif state is TaskState.RUNNING:
        status.progress = parse_progress(prediction.get("logs"))
    elif state is TaskState.FAILED:
        status.error = failure_error(prediction, provider).to_dict()
    elif state is TaskState.CANCELED:
        status.error = _ended(prediction, provider)
    else:
        urls = _outputs(prediction.get("output"))
        remote_id = str(prediction.get("id"))
        if not urls:
            removed = bool(prediction.get("data_removed"))
            error = GenerationFailed(
                f"Replicate reported prediction {remote_id} succeeded but "
                + ("its data was already removed" if removed else "gave no output"),
                provider=provider,
                provider_code="output_deleted" if removed else "missing_output",
                details={"remote_id": remote_id},
            )
            return TaskStatus(
                state=TaskState.FAILED,
                raw_status=raw,
                error=error.to_dict(),
                progress=1.0,
                charge=status.charge,
            )
        status.progress = 1.0
        status.outputs = [
            OutputRef(url=url, remote_id=remote_id, content_type="video/mp4") for url in urls
        ]
    return status


def _charge(prediction: dict[str, Any], state: TaskState) -> ProviderCharge | None:
    """The seconds of output a finished prediction was billed for: official video models bill
    per output second and say how many in ``metrics.video_output_duration_seconds``
    (``metrics.predict_time`` is GPU time, not what an official model bills). A prediction that
    did not succeed has none: Replicate does not bill failed, canceled or aborted ones, and
    the catalogue's billing rules say so."""
    if not state.terminal:
        return None
    metrics = prediction.get("metrics")
    seconds = metrics.get("video_output_duration_seconds") if isinstance(metrics, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return None
    return ProviderCharge(
        output_seconds=float(seconds), note=f"metrics.video_output_duration_seconds = {seconds:g}"
    )


def _created_at(prediction: dict[str, Any]) -> float | None:
    text = prediction.get("created_at")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _same_input(sent: dict[str, Any], echoed: dict[str, Any]) -> bool:
    """Whether a listed prediction's input echoes what we would send: the same prompt, and no
    scalar parameter that differs (data URIs may come back as uploaded-file URLs)."""
    if echoed.get("prompt") != sent.get("prompt"):
        return False
    for key, value in sent.items():
        if isinstance(value, str) and value.startswith("data:"):
            continue
        if key in echoed and echoed[key] != value:
            return False
    return True
