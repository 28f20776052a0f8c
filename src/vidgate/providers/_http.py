"""The one HTTP client providers use: httpx, with every call written to the request log."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .. import requestlog
from ._errors import error_for_status, request_id_of, transport_error

__all__ = [
    "RecordingTransport",
    "download_to",
    "fetch_user_image",
    "make_client",
    "origin_of",
    "request_id_of",
    "same_origin",
]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and records method, redacted URL, status, latency and request id."""

    def __init__(self, provider: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.provider = provider
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.HTTPError as exc:
            requestlog.record(
                self.provider,
                request.method,
                str(request.url),
                status_code=None,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=f"{type(exc).__name__}: {exc}",
            )
            raise
        request_id = request_id_of(response)
        requestlog.record(
            self.provider,
            request.method,
            str(request.url),
            status_code=response.status_code,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_id=request_id,
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_client(
    provider: str,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    transport: httpx.AsyncBaseTransport | None = None,
    event_hooks: dict[str, list[Any]] | None = None,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        transport=RecordingTransport(provider, transport),
        follow_redirects=True,
        event_hooks=event_hooks,
    )


async def download_to(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    dest: Path,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """Stream ``url`` to ``dest`` in constant memory; ``dest`` appears only when complete.
    Errors map to the exception tree (a 5xx or a cut connection is retryable)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_for_status(provider, response, response.text[:300])
                    async for chunk in response.aiter_bytes(1 << 20):
                        out.write(chunk)
            except httpx.HTTPError as exc:
                raise transport_error(provider, exc) from exc
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parsed = httpx.URL(url)
    default = {"https": 443, "http": 80}.get(parsed.scheme)
    return parsed.scheme, parsed.host, parsed.port or default


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` may see credentials meant for ``base``."""
    try:
        return origin_of(url) == origin_of(base)
    except httpx.InvalidURL:
        return False


async def fetch_user_image(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    ssrf_allow: list[str],
    max_bytes: int,
    max_redirects: int = 3,
) -> bytes:
    """GET an image a user named, through vidgate's SSRF guard (allow-list
    ``VIDGATE_SSRF_ALLOW``) checked again at every redirect hop, without any credential and
    within ``max_bytes``. (A DNS answer that changes between the check and the connection is
    not caught.)"""
    import asyncio

    from ..exceptions import InvalidRequest, ProviderUnavailable
    from ..ssrf import check_url

    for _ in range(max_redirects + 1):
        await asyncio.to_thread(check_url, url, allow=ssrf_allow, label="image")
        shown = requestlog.redact_url(url)
        try:
            async with client.stream("GET", url, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = str(httpx.URL(url).join(response.headers["location"]))
                    continue
                if response.status_code >= 400:
                    raise InvalidRequest(
                        f"the image URL answered {response.status_code}: {shown}",
                        details={"image": shown},
                    )
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise InvalidRequest(
                            f"the image is larger than {max_bytes // 2**20} MB",
                            details={"image": shown},
                        )
                return bytes(data)
        except httpx.HTTPError as exc:
            # Nothing reached the provider yet, so the submit can safely run again.
            raise ProviderUnavailable(
                f"could not fetch the image {shown}: {type(exc).__name__}",
                provider=provider,
                details={"not_sent": True},
            ) from None
    raise InvalidRequest(
        f"the image URL redirects more than {max_redirects} times",
        details={"image": requestlog.redact_url(url)},
    )
