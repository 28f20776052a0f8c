"""Reading fal's answers for the fal adapter (:mod:`vidgate.providers.fal`): a finished
request's failure in either of fal's two formats, an error answer's text, the progress in the
log lines, and the video in a result.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from ..exceptions import ContentRejected, GenerationFailed, ProviderError, ProviderRejectedRequest
from .base import OutputRef, TaskState, TaskStatus

__all__ = ["CONTENT_POLICY", "TRANSIENT_ERROR_TYPES", "failure_error"]

#: ``error_type`` values of infrastructure failures: worth trying again later.
TRANSIENT_ERROR_TYPES = frozenset(
    {
        "request_timeout",
        "startup_timeout",
        "runner_scheduling_failure",
        "runner_connection_timeout",
        "runner_disconnected",
        "runner_connection_refused",
        "runner_connection_error",
        "runner_incomplete_response",
        "runner_server_error",
        "internal_error",
    }
)
CONTENT_POLICY = "content_policy_violation"
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")

# -- failures ------------------------------------------------------------------------------------


def _describe_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc") or []
    where = ".".join(str(p) for p in loc if p != "body") or "input"
    return f"{where}: {item.get('msg') or item.get('type') or 'invalid'}"


def _is_cancel(error: Any, error_type: Any) -> bool:
    return any(isinstance(v, str) and "cancel" in v.lower() for v in (error, error_type))


def failure_error(
    remote_id: str | None,
    payload: Any,
    *,
    status_code: int | None = None,
    error: str | None = None,
    error_type: str | None = None,
    request_id: str | None = None,
    provider: str = "fal",
) -> ProviderError:
    """The vidgate error for a fal request that ended in an error, from whichever of fal's two
    formats ``payload`` (the result body, or a webhook's payload) has, else from the status's
    ``error`` / ``error_type``. Without ``remote_id`` it is the submit's own answer."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    subject = f"fal request {remote_id}" if remote_id else "fal's submit"
    where: dict[str, Any] = {"remote_id": remote_id} if remote_id else {}
    common: dict[str, Any] = {
        "provider": provider,
        "status_code": status_code,
        "request_id": request_id,
    }
    if isinstance(detail, list) and detail:
        items = [d for d in detail if isinstance(d, dict)] or [{"msg": str(detail[0])}]
        text = "; ".join(_describe_item(d) for d in items[:10])
        message = f"{subject} was refused ({status_code or 422}): {text}"
        policy = [d for d in items if d.get("type") == CONTENT_POLICY]
        if policy:
            loc = policy[0].get("loc") or []
            stage = "input" if loc and loc[0] == "body" else "output"
            categories = sorted({str(c) for d in policy for c in d.get("categories") or []})
            return ContentRejected(
                message,
                stage=stage,
                # Output checks run after the model did (unconfirmed whether fal bills them).
                charged=stage == "output",
                provider_code=CONTENT_POLICY,
                details={**where, "categories": categories},
                **common,
            )
        code = items[0].get("type")
        return ProviderRejectedRequest(
            message,
            provider_code=str(code) if code else None,
            details=where,
            **common,
        )
    kind = (payload.get("error_type") if isinstance(payload, dict) else None) or error_type
    text = detail if isinstance(detail, str) and detail else (error or "no reason given")
    message = f"{subject} failed ({kind or 'no error type'}): {text}"
    if kind == CONTENT_POLICY:
        return ContentRejected(
            message,
            stage="input",
            provider_code=CONTENT_POLICY,
            details=where,
            **common,
        )
    return GenerationFailed(
        message,
        provider_code=str(kind) if kind else None,
        details={**where, "retry_later": kind in TRANSIENT_ERROR_TYPES},
        **common,
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(payload: Any, response: httpx.Response) -> str:
    """The text of an error answer in either format (``detail`` list or string)."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, list) and detail:
        text = "; ".join(_describe_item(d) for d in detail[:10])
    elif isinstance(detail, str) and detail:
        text = detail
    else:
        text = response.text or response.reason_phrase
    return text[:300]


def _progress(logs: Any) -> float | None:
    """The last "NN%" in the log lines, as 0..1; fal reports progress only in log text."""
    if not isinstance(logs, list):
        return None
    for line in reversed(logs):
        message = line.get("message") if isinstance(line, dict) else None
        found = _PERCENT.search(message) if isinstance(message, str) else None
        if found:
            return min(max(float(found[1]) / 100, 0.0), 1.0)
    return None


def _outputs(remote_id: str, result: Any) -> list[OutputRef]:
    video = result.get("video") if isinstance(result, dict) else None
    url = video.get("url") if isinstance(video, dict) else None
    if not isinstance(url, str) or not url:
        return []
    content_type = video.get("content_type") if isinstance(video, dict) else None
    return [
        OutputRef(
            url=url,
            remote_id=remote_id,
            content_type=content_type if isinstance(content_type, str) else "video/mp4",
        )
    ]


def _missing_output(remote_id: str, provider: str, **details: Any) -> TaskStatus:
    error = GenerationFailed(
        f"fal reported request {remote_id} COMPLETED but its result has no video URL",
        provider=provider,
        provider_code="missing_output",
        details={"remote_id": remote_id, **details},
    )
    return TaskStatus(
        state=TaskState.FAILED, raw_status="COMPLETED", progress=1.0, error=error.to_dict()
    )
