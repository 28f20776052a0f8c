"""What the contract tests share: building a submission, polling with a deadline, waiting for
something another thread does, a loopback HTTP recorder, and running a job through the engine.

Waiting is always bounded: ``wait_until`` and ``poll_until`` fail the test at their deadline, and
a ``Recorder`` wakes its waiters when a request arrives (no polling at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from vidgate.catalog import effective_params, load_catalog
from vidgate.catalog.schema import ModelProfile
from vidgate.engine import Engine
from vidgate.exceptions import ProviderError, ProviderUnavailable
from vidgate.media.probe import probe
from vidgate.providers.base import OutputRef, Submission, TaskStatus
from vidgate.simulator.server import RunningSimulator
from vidgate.types import Attempt, Job, JobStatus, MediaInfo, VideoRequest

T = TypeVar("T")

CATALOG = load_catalog()


# -- requests ----------------------------------------------------------------------------------


def make_submission(
    model: str | ModelProfile,
    reference: str,
    /,
    *,
    callback_url: str | None = None,
    **fields: Any,
) -> Submission:
    """A provider submission for ``model`` (a catalogue ref or a profile) built the way the
    engine builds one: the request's fields, the model's effective parameters, a reference."""
    profile = CATALOG.get(model) if isinstance(model, str) else model
    request = VideoRequest.model_validate(fields)
    built = Submission.build(request, profile, effective_params(profile, request), reference)
    if callback_url is None:
        return built
    return built.model_copy(update={"callback_url": callback_url})


def png_bytes(
    width: int = 32, height: int = 18, color: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    """A valid one-colour RGB PNG, written by hand (no imaging library needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data))
        return struct.pack(">I", len(data)) + tag + data + crc

    rows = b"".join(b"\x00" + bytes(color) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_png(
    path: Path, width: int = 32, height: int = 18, color: tuple[int, int, int] = (200, 80, 40)
) -> Path:
    path.write_bytes(png_bytes(width, height, color))
    return path


# -- waiting, always with a deadline -----------------------------------------------------------


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    *,
    interval: float = 0.02,
    what: str = "the condition",
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that; fail the test after ``timeout`` seconds. For state another thread or process
    changes where nothing signals the change (a simulator task, a subprocess, an SDK's reads)."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


async def until(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = 10.0,
    *,
    interval: float = 0.02,
    what: str = "the condition",
) -> T:
    """``wait_until`` for an awaitable check, without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        found = await predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(interval)


async def poll_until(
    provider: Any,
    remote_id: str,
    done: Callable[[TaskStatus], bool] = lambda s: s.state.terminal,
    timeout: float = 20.0,
    *,
    interval: float = 0.05,
) -> list[TaskStatus]:
    """Every status ``provider.poll`` gives until ``done`` holds (fail after ``timeout``)."""
    seen: list[TaskStatus] = []
    deadline = time.monotonic() + timeout
    while True:
        status = await provider.poll(remote_id)
        seen.append(status)
        if done(status):
            return seen
        if time.monotonic() >= deadline:
            pytest.fail(f"{remote_id} never got there in {timeout:g} s: {seen[-1]}")
        await asyncio.sleep(interval)


async def finished_output(provider: Any, sub: Submission) -> OutputRef:
    """Submit, poll to the end, and return the first output of a success."""
    created = await provider.submit(sub)
    final = (await poll_until(provider, created.remote_id))[-1]
    assert final.state.value == "succeeded", final
    output: OutputRef = final.outputs[0]
    return output


async def finished_outputs(provider: Any, subs: dict[str, Submission]) -> dict[str, OutputRef]:
    """``finished_output`` for each named submission, all at once."""
    outputs = await asyncio.gather(*(finished_output(provider, s) for s in subs.values()))
    return dict(zip(subs, outputs, strict=True))


# -- adapters in front of a mock transport -----------------------------------------------------


def mock_transport(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    """Make ``module``'s adapter send through ``answer`` (its real origin, never reached)."""
    original = module.make_client

    def mocked(provider: str, **kw: Any) -> httpx.AsyncClient:
        client: httpx.AsyncClient = original(provider, transport=httpx.MockTransport(answer), **kw)
        return client

    monkeypatch.setattr(module, "make_client", mocked)


async def refused_create(
    provider: Any,
    sub: Submission,
    error: type[ProviderError],
    status: int,
    words: str,
    *,
    secret: str,
    simulator: RunningSimulator,
    name: str,
) -> ProviderError:
    """Submit a create the simulator refuses: the exact class and status, the provider's
    words, no secret anywhere in the error, and nothing created (``creates[name]``)."""
    with pytest.raises(error) as caught:
        await provider.submit(sub)
    exc = caught.value
    assert type(exc) is error and exc.status_code == status
    assert words in exc.message
    assert secret not in exc.message and secret not in repr(exc.to_dict())
    assert simulator.state.creates[name] == 0, "nothing was created"
    return exc


async def refused_unreachable(provider: Any, sub: Submission, secret: str) -> None:
    """A provider whose address answers nothing certainly got nothing (``not_sent``), and the
    error carries no secret. Closes ``provider``."""
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.submit(sub)
    finally:
        await provider.aclose()
    assert caught.value.details["not_sent"] is True
    assert secret not in str(caught.value)


# -- a loopback HTTP recorder ------------------------------------------------------------------


@dataclass
class Delivery:
    """One request a ``Recorder`` received (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def token(self) -> str:
        """The last path segment (where a callback URL carries its token)."""
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Recorder:
    """A real loopback HTTP server (uvicorn in a thread) that records every request and
    answers from ``routes`` (path -> status, headers, body; 200 ``ok`` otherwise). Override
    ``answer`` to decide per request. Waiters are woken as requests arrive."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    url: str = ""
    requests: list[Delivery] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def answer(self, request: Delivery) -> tuple[int, dict[str, str], bytes]:
        return self.routes.get(request.path, (200, {}, b"ok"))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request = Delivery(scope["method"], scope["path"], headers, body)
        status, extra, payload = await asyncio.to_thread(self.answer, request)
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def to(self, path: str) -> list[Delivery]:
        return [r for r in self.requests if r.path == path]

    def wait_for(
        self, count: int, *, path: str | None = None, timeout: float = 10.0
    ) -> list[Delivery]:
        """Block until ``count`` requests (to ``path``, if given) have arrived; return them."""

        def got() -> list[Delivery]:
            return self.to(path) if path is not None else list(self.requests)

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(got()) >= count, timeout):
                pytest.fail(f"only {len(got())} of {count} requests arrived in {timeout:g} s")
            return got()

    async def delivered(
        self, count: int, *, path: str | None = None, timeout: float = 10.0
    ) -> list[Delivery]:
        """``wait_for`` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, count, path=path, timeout=timeout)


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI ``app`` on a loopback port for the block; yields its URL. The socket is
    bound and listening before the server thread starts, so requests queue instead of failing
    (no waiting for the server to come up)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Serve ``recorder`` for the block (its ``url`` set)."""
    with serving(recorder) as url:
        recorder.url = url
        yield recorder


# -- through the engine ------------------------------------------------------------------------


async def run_job(engine: Engine, request: VideoRequest, timeout: float = 60.0) -> Job:
    """Submit ``request`` and follow the job to its end (the engine's own short-interval wait,
    bounded)."""
    job = await engine.submit(request)
    return await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=timeout)


def completed_video(
    done: Job, size: tuple[int, int], duration: float, codec: str = "h264"
) -> MediaInfo:
    """Assert the job completed with a decodable video of ``size`` and ``duration``."""
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.output is not None and done.output.uri
    info = probe(Path(done.output.uri), decode=True)
    assert (info.width, info.height, info.video_codec) == (*size, codec)
    assert info.duration == pytest.approx(duration, abs=0.05)
    return info


def creates_after_429(
    engine: Engine, done: Job, simulator: RunningSimulator, name: str
) -> list[Any]:
    """A job whose first create met a 429: it completed with one create made on ``name``;
    returns the status of each create the engine sent."""
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert simulator.state.creates_by_reference[name] == {attempt.reference: 1}
    return [c.status_code for c in engine.calls(done.id) if c.method == "POST"]


def stopped_uncertain(done: Job) -> Attempt:
    """A job whose one create was ambiguous, on a provider that cannot look tasks up: it
    failed as ``submit_uncertain`` rather than create again. Returns its one attempt."""
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "submit_uncertain"
    [attempt] = done.attempts
    return attempt
