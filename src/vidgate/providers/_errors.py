"""Turning HTTP answers and transport failures into vidgate's exception tree.

The generic mapping lives here; each provider module refines it with what its own error bodies
say (Runway's "not enough credits" 400, OpenAI's ``insufficient_quota`` 429, moderation 400s…).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import httpx

from ..exceptions import (
    InsufficientCredits,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
)

__all__ = [
    "error_for_status",
    "parse_retry_after",
    "request_id_of",
    "scrub_secret",
    "transport_error",
]


#: Response headers that carry a provider's request id, in the order we look for them.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-runway-request-id",
    "x-fal-request-id",
    "cf-ray",
)


def request_id_of(response: httpx.Response) -> str | None:
    """The provider's id for this request, from whichever header it uses."""
    return next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(float(lowered["retry-after-ms"]) / 1000, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(parsed.timestamp() - time.time(), 0.0)


def error_for_status(
    provider: str,
    response: httpx.Response,
    message: str,
    *,
    provider_code: str | None = None,
) -> ProviderError:
    """The exception for a non-2xx answer, by status code alone."""
    status = response.status_code
    text = f"{provider} answered {status}: {message}"
    cls: type[ProviderError] = ProviderError
    if status in (401, 403):
        cls = ProviderAuthError
    elif status == 402:
        cls = InsufficientCredits
    elif status == 429:
        cls = RateLimited
    elif status in (408, 409) or status >= 500:
        cls = ProviderUnavailable
    elif status in (400, 404, 413, 415, 422):
        cls = ProviderRejectedRequest
    return cls(
        text,
        provider=provider,
        status_code=status,
        provider_code=provider_code,
        request_id=request_id_of(response),
        retry_after=parse_retry_after(response.headers) if cls.retryable else None,
    )


def transport_error(provider: str, exc: httpx.HTTPError) -> ProviderUnavailable:
    """A failure with no HTTP answer. A refused connection certainly sent nothing (a create
    may be sent again); a timeout or a dropped connection may have been processed."""
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return ProviderUnavailable(
        f"{provider} could not be reached: {type(exc).__name__}: {exc}",
        provider=provider,
        details={"not_sent": not_sent},
    )


def scrub_secret(error: ProviderError, *secrets: str) -> ProviderError:
    """Take every one of ``secrets`` out of the error's message, whatever a provider's answer
    echoed back (belt and braces: no key ever reaches a log, an error or a response)."""
    for secret in secrets:
        if secret and secret in error.message:
            error.message = error.message.replace(secret, "***")
            error.args = (error.message,)
    return error
