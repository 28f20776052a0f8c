"""The one error body every gateway answer uses, ``{"error": {"code", "message", …}}``, and its
OpenAPI description (so the document promises what the API really returns)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from ..exceptions import VidgateError

__all__ = ["ErrorBody", "error_body", "error_response", "errors", "from_exception"]


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable, machine-readable code (see vidgate.exceptions)")
    message: str = Field(description="what went wrong, for a human")
    type: str | None = Field(default=None, description="the code again (OpenAI's field)")
    param: str | None = Field(default=None, description="the request field at fault, if one")
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """Every error the gateway answers."""

    error: ErrorDetail


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    param = extra.pop("param", None)
    return {"error": {"code": code, "message": message, "type": code, "param": param, **extra}}


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def from_exception(exc: VidgateError) -> JSONResponse:
    details = dict(exc.details)
    param = details.get("param")
    return error_response(
        exc.http_status,
        exc.code,
        exc.message,
        param=param if isinstance(param, str) else None,
        details=details,
    )


def raw_error(
    status: int, code: str, message: str, **details: Any
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of an error answered below the framework (by the ASGI middleware),
    shaped like every other error (``details`` included)."""
    body = json.dumps(error_body(code, message, details=details)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return headers, body


_DESCRIPTIONS = {
    400: "Bad input: invalid_request, unsupported, unknown_model, model_retired, "
    "prompt_invalid (details.reason) …",
    401: "No API key, or not a valid one (unauthorized)",
    402: "A budget would be exceeded (budget_exceeded: the budget, used, reserved, resets_at)",
    403: "Not allowed: an admin key is needed, or a signed link is invalid (forbidden)",
    404: "Not found, or not the caller's (not_found)",
    409: "A conflict: idempotency_conflict, content_not_ready, quarantine_conflict",
    413: "The body is larger than VIDGATE_MAX_BODY_BYTES (request_too_large)",
    422: "The content safety policy blocks it (content_rejected: details.categories)",
    429: "A tenant limit: too_many_requests, concurrency_limit, daily_quota_exceeded, "
    "quota_exceeded",
    451: "The output is held in quarantine by the content scan (output_quarantined)",
    502: "A provider failed (provider_error …)",
    503: "Not configured (configuration, missing_credentials), or content moderation is "
    "unavailable (moderation_unavailable)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error body under each status it can answer."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS.get(status, "An error")}
        for status in statuses
    }
