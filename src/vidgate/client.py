"""``vidgate.Client`` / ``vidgate.AsyncClient``: a typed client for a running gateway.

    from vidgate import Client

    with Client("http://127.0.0.1:8000", api_key="vg_…") as client:
        video = client.create("a red fox in snow", duration=4, aspect_ratio="9:16")
        video = client.wait(video.id, on_progress=lambda v: print(v.phase, v.progress))
        client.download(video.id, "fox.mp4")

Errors come back as vidgate's own exceptions, chosen by the error's stable code
(``JobNotFound``, ``UnsupportedRequest``, ``TooManyRequests`` with ``retry_after``…).
The key defaults to ``$VIDGATE_API_KEY`` and the URL to ``$VIDGATE_URL``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from . import exceptions
from .exceptions import JobTimeout, LimitExceeded, VidgateError
from .settings import Settings

__all__ = ["AsyncClient", "Client", "Estimate", "Video", "VideoError"]

_TERMINAL = {"completed", "failed", "canceled"}


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """A job as the gateway reports it (OpenAI's Video object plus vidgate's fields)."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: str
    progress: int = 0
    phase: str | None = None
    model: str | None = None
    provider: str | None = None
    prompt: str | None = None
    seconds: str | None = None
    size: str | None = None
    error: VideoError | None = None
    created_at: int | None = None
    completed_at: int | None = None
    cost_usd: float | None = None
    quote: dict[str, Any] | None = None
    media: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    urls: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    #: critical, standard or batch; the strategy that ordered the candidates; for a batch job
    #: held for the off-peak window (phase ``scheduled``), when it is released (unix seconds).
    priority: str | None = None
    strategy: str | None = None
    not_before: int | None = None
    #: Candidates in order, why each is where it is (``ranking``), why others were not used.
    routing: dict[str, Any] | None = None
    cached: bool = Field(default=False, description="served from the result cache, at no cost")
    cached_from: str | None = Field(default=None, description="the job whose video it served")

    @property
    def done(self) -> bool:
        return self.status in _TERMINAL


class Estimate(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    provider: str
    quote: dict[str, Any] | None = None
    alternatives: list[dict[str, Any]] = Field(default_factory=list)
    not_used: dict[str, str] = Field(default_factory=dict)
    #: The priority, the strategy (and where it came from), and each candidate's place and why.
    priority: str | None = None
    strategy: str | None = None
    strategy_from: str | None = None
    ranking: list[dict[str, Any]] = Field(default_factory=list)
    hints: list[dict[str, str]] = Field(
        default_factory=list, description="the prompt linter's hints: code and message"
    )
    #: Every model's price (basis, status, source) or why it cannot serve the request.
    estimates: list[dict[str, Any]] = Field(default_factory=list)
    #: The spend of ``count`` such videos per day or month, when asked for.
    projection: dict[str, Any] | None = None


def _error_classes() -> dict[str, type[VidgateError]]:
    found: dict[str, type[VidgateError]] = {}
    for value in vars(exceptions).values():
        if isinstance(value, type) and issubclass(value, VidgateError):
            found.setdefault(value.code, value)
    return found


_ERRORS = _error_classes()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "error", response.text[:300] or response.reason_phrase, {}
    cls = _ERRORS.get(code, VidgateError)
    exc = cls.__new__(cls)
    VidgateError.__init__(exc, message, details={**details, "http_status": response.status_code})
    if isinstance(exc, LimitExceeded):
        retry = response.headers.get("retry-after")
        exc.retry_after = float(retry) if retry else details.get("retry_after")
    raise exc


def _gateway(base_url: str | None, api_key: str | None) -> tuple[str, dict[str, str]]:
    """The gateway's URL and the key's header: the arguments, else ``VIDGATE_URL`` and
    ``VIDGATE_API_KEY``."""
    settings = Settings()
    key = api_key or settings.api_key
    if not key:
        raise exceptions.ConfigurationError("pass api_key= or set VIDGATE_API_KEY")
    return (base_url or settings.url).rstrip("/"), {"Authorization": f"Bearer {key}"}


def _body(prompt: str | dict[str, str] | None, fields: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in fields.items() if v is not None}
    if prompt is not None:
        body["prompt"] = prompt
    return body


def _events(lines: Iterator[str]) -> Iterator[Video]:
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield Video.model_validate(json.loads("\n".join(data)))
            data = []


class Client:
    """A synchronous client for a vidgate gateway."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url, headers = _gateway(base_url, api_key)
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = self._http.request(method, path, **kw)
        _raise_for(response)
        return response.json()

    def create(
        self,
        prompt: str | dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Video:
        """Start a job. ``prompt`` is text or a structured prompt (``{"subject": …,
        "camera": …}``); ``fields`` are the gateway's create fields (duration, aspect_ratio,
        resolution, model, providers, seed, negative_prompt, image, last_frame, metadata,
        webhook_url, deadline_seconds, template, variables, priority, strategy, cache…)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Video.model_validate(
            self._call("POST", "/v1/videos", json=_body(prompt, fields), headers=headers)
        )

    def estimate(self, prompt: str | dict[str, str] | None = None, **fields: Any) -> Estimate:
        return Estimate.model_validate(
            self._call("POST", "/v1/videos/estimate", json=_body(prompt, fields))
        )

    def templates(self) -> list[dict[str, Any]]:
        """The newest version of every template this key's tenant can use."""
        data: list[dict[str, Any]] = self._call("GET", "/v1/templates")["data"]
        return data

    def template(self, name: str) -> dict[str, Any]:
        """A template: ``name`` (its newest version) or ``name@version``, with its versions."""
        found: dict[str, Any] = self._call("GET", f"/v1/templates/{name}")
        return found

    def create_template(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store a template, or the next version of one (versions are never edited)."""
        made: dict[str, Any] = self._call("POST", "/v1/templates", json=body)
        return made

    def get(self, video_id: str) -> Video:
        return Video.model_validate(self._call("GET", f"/v1/videos/{video_id}"))

    def list(self, *, page_size: int = 50) -> Iterator[Video]:
        """Every video, newest first, page by page."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if after:
                params["after"] = after
            page = self._call("GET", "/v1/videos", params=params)
            for item in page["data"]:
                yield Video.model_validate(item)
            if not page["has_more"]:
                return
            after = page["last_id"]

    def cancel(self, video_id: str) -> Video:
        return Video.model_validate(self._call("POST", f"/v1/videos/{video_id}/cancel"))

    def delete(self, video_id: str) -> None:
        self._call("DELETE", f"/v1/videos/{video_id}")

    def wait(
        self,
        video_id: str,
        *,
        on_progress: Callable[[Video], None] | None = None,
        timeout: float | None = None,
    ) -> Video:
        """Follow the job's server-sent events to its end; ``on_progress`` sees every change."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = self.get(video_id)
        while not last.done:
            with self._http.stream(
                "GET", f"/v1/videos/{video_id}/events", timeout=httpx.Timeout(30, read=None)
            ) as stream:
                if stream.status_code >= 400:
                    stream.read()
                    _raise_for(stream)
                for video in _events(stream.iter_lines()):
                    last = video
                    if on_progress is not None:
                        on_progress(video)
                    if video.done:
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        raise JobTimeout(f"{video_id} did not finish within {timeout} s")
        return last

    def download(self, video_id: str, path: str | Path, *, variant: str = "video") -> Path:
        """Stream the finished video (or ``variant="thumbnail"``) to ``path``."""
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        with self._http.stream(
            "GET", f"/v1/videos/{video_id}/content", params={"variant": variant}
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
        partial.replace(target)
        return target


class AsyncClient:
    """The asynchronous twin of ``Client``."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base_url, headers = _gateway(base_url, api_key)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._http.request(method, path, **kw)
        _raise_for(response)
        return response.json()

    async def create(
        self,
        prompt: str | dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Video:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Video.model_validate(
            await self._call("POST", "/v1/videos", json=_body(prompt, fields), headers=headers)
        )

    async def estimate(self, prompt: str | dict[str, str] | None = None, **fields: Any) -> Estimate:
        return Estimate.model_validate(
            await self._call("POST", "/v1/videos/estimate", json=_body(prompt, fields))
        )

    async def get(self, video_id: str) -> Video:
        return Video.model_validate(await self._call("GET", f"/v1/videos/{video_id}"))

    async def list(self, *, page_size: int = 50) -> AsyncIterator[Video]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if after:
                params["after"] = after
            page = await self._call("GET", "/v1/videos", params=params)
            for item in page["data"]:
                yield Video.model_validate(item)
            if not page["has_more"]:
                return
            after = page["last_id"]

    async def cancel(self, video_id: str) -> Video:
        return Video.model_validate(await self._call("POST", f"/v1/videos/{video_id}/cancel"))

    async def delete(self, video_id: str) -> None:
        await self._call("DELETE", f"/v1/videos/{video_id}")

    async def wait(
        self,
        video_id: str,
        *,
        on_progress: Callable[[Video], None] | None = None,
        timeout: float | None = None,
    ) -> Video:
        deadline = None if timeout is None else time.monotonic() + timeout
        last = await self.get(video_id)
        while not last.done:
            async with self._http.stream(
                "GET", f"/v1/videos/{video_id}/events", timeout=httpx.Timeout(30, read=None)
            ) as stream:
                if stream.status_code >= 400:
                    await stream.aread()
                    _raise_for(stream)
                async for video in _aevents(stream.aiter_lines()):
                    last = video
                    if on_progress is not None:
                        on_progress(video)
                    if video.done:
                        break
            if deadline is not None and time.monotonic() > deadline and not last.done:
                raise JobTimeout(f"{video_id} did not finish within {timeout} s")
        return last

    async def download(self, video_id: str, path: str | Path, *, variant: str = "video") -> Path:
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        async with self._http.stream(
            "GET", f"/v1/videos/{video_id}/content", params={"variant": variant}
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response)
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes(1 << 20):
                    out.write(chunk)
        partial.replace(target)
        return target


async def _aevents(lines: AsyncIterator[str]) -> AsyncIterator[Video]:
    data: list[str] = []
    async for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield Video.model_validate(json.loads("\n".join(data)))
            data = []
