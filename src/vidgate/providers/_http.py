"""What every HTTP adapter shares, so that an adapter keeps only its provider's wire knowledge:

- the httpx client (every call written to the request log), kept per event loop by
  :class:`ClientPool` (the engine runs steps on DBOS's loop, callers on theirs, and a client's
  pooled connections belong to the loop that opened them);
- :class:`HttpProvider`, a provider with such a pool and :meth:`HttpProvider.send`: one call,
  its failures mapped to the exception tree, with the credentials scrubbed from every message;
- :func:`check_webhook_time`, the freshness check of signed webhooks;
- :func:`atomic_file` and :func:`download_to`: outputs appear at their path only when complete;
- the SSRF-guarded fetch of users' images and the same-origin check that keeps keys home.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from .. import requestlog
from ..exceptions import (
    GenerationFailed,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    SubmitUncertain,
)
from ..settings import Settings
from ._errors import error_for_status, request_id_of, scrub_secret, transport_error
from .base import Provider

__all__ = [
    "WEBHOOK_TOLERANCE",
    "ClientPool",
    "HttpProvider",
    "RecordingTransport",
    "atomic_file",
    "check_webhook_time",
    "created",
    "download_to",
    "fetch_user_image",
    "gone_if_404",
    "json_object",
    "make_client",
    "origin_of",
    "request_id_of",
    "same_origin",
    "send",
]

#: Signed webhooks older or newer than this (seconds) are refused as stale or replayed
#: (Standard Webhooks' tolerance, which fal uses too).
WEBHOOK_TOLERANCE = 300.0
#: An answer that is an error: a non-2xx status becomes the provider's exception.
ErrorMapper = Callable[[httpx.Response], ProviderError]


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


class ClientPool:
    """httpx clients by event loop, then by name (an adapter may keep one per API, and one
    without credentials for downloads). A client is made on first use in each loop."""

    def __init__(self) -> None:
        self._clients: dict[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = {}

    def get(self, make: Callable[[], httpx.AsyncClient], name: str = "api") -> httpx.AsyncClient:
        """The running loop's client ``name``, made with ``make()`` if it has none yet."""
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._clients if other.is_closed()]:
            del self._clients[stale]  # its connections died with their loop
        clients = self._clients.setdefault(loop, {})
        client = clients.get(name)
        if client is None or client.is_closed:
            client = clients[name] = make()
        return client

    async def aclose(self) -> None:
        """Close every loop's clients, each on its own loop (which may be another thread's)."""
        current = asyncio.get_running_loop()
        every, self._clients = self._clients, {}
        for loop, clients in every.items():
            for client in clients.values():
                if loop is current:
                    await client.aclose()
                elif loop.is_running() and not loop.is_closed():
                    closing = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.wrap_future(closing), 5)
                # A closed loop already dropped its connections: nothing is left to close.


async def send(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    secrets: Iterable[str] = (),
    error: ErrorMapper | None = None,
    check: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """One provider call. No answer raises :func:`transport_error`; with ``check``, a non-2xx
    answer raises ``error(response)`` (default: by status alone). Every one of ``secrets`` is
    scrubbed from the message, and the httpx error is not chained: it holds the request, and
    the request holds the key."""
    secrets = tuple(secrets)
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise scrub_secret(transport_error(provider, exc), *secrets) from None
    if check and response.status_code >= 400:
        mapped = error(response) if error else _by_status(provider, response)
        raise scrub_secret(mapped, *secrets)
    return response


def _by_status(provider: str, response: httpx.Response) -> ProviderError:
    return error_for_status(provider, response, response.text[:300])


class HttpProvider(Provider):
    """A provider spoken over HTTP. It keeps its clients (:attr:`clients`, one per event loop)
    and calls with :meth:`authorized` (or :func:`send`, on a client of its own); a subclass
    says only what is its provider's own: how its client is made (:meth:`_new_client`: base
    URL, hooks), which headers carry its credential (:meth:`_credentials`) and what its error
    answers mean (:meth:`_answer_error`).
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.clients = ClientPool()

    def _new_client(self) -> httpx.AsyncClient:
        """A client for this event loop (made on first use in each loop)."""
        return make_client(self.name, timeout=self.settings.http_timeout)

    def _http(self) -> httpx.AsyncClient:
        """This event loop's client."""
        return self.clients.get(self._new_client)

    def _credentials(self) -> tuple[dict[str, str], list[str]]:
        """The headers that carry our credential, and the secrets no error may show. By
        default the provider's key as a bearer token (raises if no key is set)."""
        key = self.require_key()
        return {"Authorization": f"Bearer {key}"}, [key]

    def _answer_error(self, response: httpx.Response) -> ProviderError:
        """An error answer as a vidgate error (by default, by status alone)."""
        return _by_status(self.name, response)

    async def authorized(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        check: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call with our credential on this loop's client: :func:`send`, with this
        provider's credential headers (``headers`` added), secrets and error answers."""
        sent, secrets = self._credentials()
        sent.update(headers or {})
        return await send(
            self._http(),
            self.name,
            method,
            url,
            headers=sent,
            secrets=secrets,
            error=self._answer_error,
            check=check,
            **kwargs,
        )

    async def aclose(self) -> None:
        await self.clients.aclose()


def created(
    provider: str, response: httpx.Response, reference: str, noun: str = "task"
) -> tuple[str, dict[str, Any]]:
    """The id a create's JSON answer names, and the answer. An accepted create without one may
    still have made a task: ``SubmitUncertain``, so that nothing is submitted twice."""
    try:
        data = response.json()
        return str(data["id"]), data
    except (ValueError, KeyError, TypeError):
        raise SubmitUncertain(
            f"{provider} accepted the create (HTTP {response.status_code}) but its answer has "
            f"no {noun} id; not submitting again (reference {reference})",
            provider=provider,
            status_code=response.status_code,
            request_id=request_id_of(response),
        ) from None


def gone_if_404(exc: ProviderError, message: str, code: str | None) -> ProviderError:
    """``exc`` from reading one task: a 404 means the task no longer exists (or never did),
    a failed generation said in ``message``; any other error is ``exc`` as it is."""
    if exc.status_code != 404:
        return exc
    return GenerationFailed(
        message,
        provider=exc.provider,
        status_code=404,
        provider_code=code,
        request_id=exc.request_id,
    )


def json_object(provider: str, response: httpx.Response, what: str | None = None) -> dict[str, Any]:
    """The answer's JSON object; a body that is not one is a transient failure of the
    provider (``what`` names the answer in the message, default its status)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderUnavailable(
            f"{provider} answered {what or response.status_code} with a body that is not a "
            "JSON object",
            provider=provider,
            status_code=response.status_code,
            request_id=request_id_of(response),
        )
    return data


def check_webhook_time(
    provider: str, value: str, header: str, *, tolerance: float = WEBHOOK_TOLERANCE
) -> None:
    """Refuse a signed webhook whose timestamp header (unix seconds) is malformed or more than
    ``tolerance`` seconds from now (stale or replayed) with ``ProviderAuthError``."""
    article = "an" if provider[:1] in "aeiou" else "a"
    try:
        sent_at = int(value)
    except ValueError:
        raise ProviderAuthError(
            f"{article} {provider} webhook has a malformed {header}", provider=provider
        ) from None
    if abs(time.time() - sent_at) > tolerance:
        raise ProviderAuthError(
            f"{article} {provider} webhook's timestamp is more than {tolerance:g} s from now "
            "(stale or replayed)",
            provider=provider,
        )


@contextlib.contextmanager
def atomic_file(dest: Path) -> Iterator[IO[bytes]]:
    """A file to write that appears at ``dest`` only if the block ends without an error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def download_to(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    dest: Path,
    *,
    headers: dict[str, str] | None = None,
    error: ErrorMapper | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Stream ``url`` to ``dest`` in constant memory; ``dest`` appears only when complete.
    Errors map to the exception tree (a 5xx or a cut connection is retryable); a refused
    answer through ``error`` when given; ``secrets`` are scrubbed from every message."""
    secrets = tuple(secrets)
    with atomic_file(dest) as out:
        try:
            async with client.stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    mapped = error(response) if error else _by_status(provider, response)
                    raise scrub_secret(mapped, *secrets)
                async for chunk in response.aiter_bytes(1 << 20):
                    out.write(chunk)
        except httpx.HTTPError as exc:
            raise scrub_secret(transport_error(provider, exc), *secrets) from None


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
    ``VIDGATE_SSRF_ALLOW``) checked at every redirect hop and again, on the address actually
    connected to, by ``GuardedTransport`` (so DNS rebinding cannot reach a private address);
    without any credential and within ``max_bytes``. ``client`` lends only its timeout: the
    fetch runs on a client of its own, with the guarded transport, no proxy from the
    environment and none of the provider's headers or hooks."""
    from ..ssrf import GuardedTransport

    guarded = httpx.AsyncClient(
        timeout=client.timeout,
        trust_env=False,
        transport=RecordingTransport(provider, GuardedTransport(allow=ssrf_allow, label="image")),
    )
    async with guarded:
        return await _fetch_user_image(
            guarded,
            url,
            provider=provider,
            ssrf_allow=ssrf_allow,
            max_bytes=max_bytes,
            max_redirects=max_redirects,
        )


async def _fetch_user_image(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    ssrf_allow: list[str],
    max_bytes: int,
    max_redirects: int,
) -> bytes:
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
