"""Google's answers as vidgate errors, for the Veo adapters (:mod:`vidgate.providers.google`,
:mod:`vidgate.providers.vertex`): the ``{error: {code, message, status, details}}`` envelope of
a refused call, a done operation's ``google.rpc.Status``, and Responsible-AI filtering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from ..exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
)
from ._errors import error_for_status, parse_retry_after, request_id_of

__all__ = ["GRPC_CODES", "google_error", "operation_error", "rai_rejection"]

_MESSAGE_LIMIT = 500

#: gRPC codes of a failed operation's ``error.code`` (``google.rpc.Code``).
GRPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}
#: The wording of a safety refusal (Vertex's Responsible-AI guide: "The prompt couldn't be
#: submitted", "… violates … usage guidelines … Support codes: …").
_SAFETY = re.compile(
    r"couldn't be submitted|could not be submitted|usage guidelines|responsible ai|"
    r"safety (?:filter|concern|requirement)|violat\w* (?:our|the|google)",
    re.IGNORECASE,
)
_INPUT_WORDS = re.compile(r"\b(?:input|prompt|image)\b", re.IGNORECASE)
_SUPPORT_CODES = re.compile(r"support codes?:\s*([\d ,]+)", re.IGNORECASE)
_CREDIT_WORDS = re.compile(
    r"credit|prepay|billing to be enabled|billing (?:is )?(?:disabled|not enabled)|"
    r"billing account",
    re.IGNORECASE,
)


# -- answers -----------------------------------------------------------------------------------


def _retry_delay(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "12s"``)."""
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*([\d.]+)s\s*", str(detail.get("retryDelay", "")))
            if match is not None:
                return float(match[1])
    return None


def _reasons(details: Any) -> set[str]:
    """``ErrorInfo.reason`` values (``API_KEY_INVALID``, ``BILLING_DISABLED``…)."""
    found = set()
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("ErrorInfo"):
            found.add(str(detail.get("reason", "")))
    return found


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    """Google's ``error`` object from a response body, if it has one."""
    try:
        payload = response.json()
    except ValueError:
        return None
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error: dict[str, Any] = payload["error"]
        return error
    return None


def _safety(message: str, said: str, **kw: Any) -> ContentRejected:
    """A safety refusal: ``message`` is ours, ``said`` Google's own words, which decide the
    stage (a refusal naming the prompt or an input image is ``input``) and carry the support
    codes (each names a harm category in Google's Responsible-AI guide)."""
    stage = "input" if _INPUT_WORDS.search(said) else "output"
    codes = _SUPPORT_CODES.search(said)
    details = dict(kw.pop("details", None) or {})
    if codes is not None:
        details["support_codes"] = [c for c in re.split(r"[ ,]+", codes[1].strip()) if c]
    return ContentRejected(message, stage=stage, charged=False, details=details, **kw)


def google_error(
    provider: str, response: httpx.Response, *, credentials: str = "the API key"
) -> ProviderError:
    """A non-2xx answer as a vidgate error: Google's envelope refines the status code.
    ``credentials`` names what to check in an auth error (e.g. ``GEMINI_API_KEY``)."""
    error = _envelope(response)
    http = response.status_code
    if error is None:
        return error_for_status(provider, response, response.text[:300] or response.reason_phrase)
    message = str(error.get("message") or response.reason_phrase)[:_MESSAGE_LIMIT]
    status = str(error.get("status") or "") or None
    details = error.get("details")
    reasons = _reasons(details)
    text = f"{provider} answered {http} {status or ''}".rstrip() + f": {message}"
    kw: dict[str, Any] = {
        "provider": provider,
        "status_code": http,
        "provider_code": status,
        "request_id": request_id_of(response),
    }
    if "BILLING_DISABLED" in reasons or (
        status in ("RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "PERMISSION_DENIED")
        and _CREDIT_WORDS.search(message)
        and _retry_delay(details) is None
    ):
        return InsufficientCredits(f"{text} (top up or enable billing)", **kw)
    if status == "RESOURCE_EXHAUSTED" or http == 429:
        retry = _retry_delay(details)
        return RateLimited(
            text,
            retry_after=retry if retry is not None else parse_retry_after(response.headers),
            **kw,
        )
    if (
        reasons & {"API_KEY_INVALID", "ACCESS_TOKEN_EXPIRED", "CREDENTIALS_MISSING"}
        or status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or http in (401, 403)
    ):
        return ProviderAuthError(f"{text} (check {credentials})", **kw)
    if status == "FAILED_PRECONDITION":
        # Region not supported, API not enabled for the project…: an operator must act.
        return ProviderAuthError(text, **kw)
    if http == 400 or status == "INVALID_ARGUMENT":
        if _SAFETY.search(message):
            return _safety(text, message, **kw)
        return ProviderRejectedRequest(text, **kw)
    if http >= 500 or status in ("INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return ProviderUnavailable(
            text, retry_after=_retry_delay(details) or parse_retry_after(response.headers), **kw
        )
    return error_for_status(provider, response, message, provider_code=status)


def operation_error(provider: str, name: str, error: Mapping[str, Any]) -> ProviderError:
    """A done operation's ``error`` (``google.rpc.Status``: gRPC ``code`` and ``message``)."""
    raw = error.get("code")
    code = int(raw) if isinstance(raw, int | float) else None
    status = GRPC_CODES.get(code or -1, str(error.get("status") or "UNKNOWN"))
    message = str(error.get("message") or "no reason given")[:_MESSAGE_LIMIT]
    text = f"{provider} operation {name} failed ({status}): {message}"
    details: dict[str, Any] = {"remote_id": name, "grpc_code": code, "charged": False}
    kw: dict[str, Any] = {"provider": provider, "provider_code": status, "details": details}
    if _SAFETY.search(message):
        return _safety(text, message, **kw)
    if status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE"):
        return ProviderRejectedRequest(text, **kw)
    if status in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return ProviderAuthError(text, **kw)
    details["retry_later"] = status in (
        "INTERNAL",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "UNKNOWN",
    )
    return GenerationFailed(text, **kw)


def rai_rejection(provider: str, name: str, count: int, reasons: list[str]) -> ContentRejected:
    """Every sample removed by Responsible-AI filtering: a content rejection, not charged."""
    said = "; ".join(reasons)[:_MESSAGE_LIMIT] if reasons else "no reason given"
    return _safety(
        f"{provider} operation {name} finished with its video filtered by Google's "
        f"Responsible-AI checks ({count} filtered): {said}",
        said,
        provider=provider,
        provider_code="RAI_MEDIA_FILTERED",
        details={"remote_id": name, "rai_filtered": count, "reasons": reasons[:10]},
    )


def _rai_fields(response: Mapping[str, Any]) -> tuple[int, list[str]]:
    """``raiMediaFilteredCount``/``Reasons``, under ``generateVideoResponse`` or directly."""
    count, reasons = 0, list[str]()
    for where in (response.get("generateVideoResponse"), response):
        if not isinstance(where, dict):
            continue
        raw = where.get("raiMediaFilteredCount")
        if isinstance(raw, int | float | str) and str(raw).isdigit():
            count = max(count, int(raw))
        found = where.get("raiMediaFilteredReasons")
        if isinstance(found, list) and not reasons:
            reasons = [str(r) for r in found]
    return count, reasons
