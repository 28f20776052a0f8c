"""The shared test plumbing itself: bounded waits, the loopback recorder, and the one warning
filter the suite needs for a third-party race (see pyproject's ``filterwarnings``)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import anyio
import httpx
import pytest

from tests.support import Recorder, recording, wait_until
from vidgate.simulator.server import free_port


def test_wait_until_returns_what_the_check_found_and_fails_at_its_deadline() -> None:
    box: list[str] = []
    threading.Timer(0.05, box.append, ["done"]).start()
    assert wait_until(lambda: box[:1], timeout=5) == ["done"]
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"the light did not happen within 0\.1 s"):
        wait_until(lambda: False, timeout=0.1, what="the light")
    assert time.monotonic() - started < 2


def test_a_recorder_wakes_its_waiter_when_a_request_arrives() -> None:
    with recording(Recorder(routes={"/a": (201, {"x-y": "z"}, b"made")})) as recorder:
        threading.Timer(0.05, httpx.post, [recorder.url + "/a"], {"content": b"hi"}).start()
        [request] = recorder.wait_for(1, path="/a", timeout=5)
        assert (request.method, request.body) == ("POST", b"hi")
        answer = httpx.get(recorder.url + "/a")
        assert (answer.status_code, answer.headers["x-y"], answer.content) == (201, "z", b"made")
        assert httpx.get(recorder.url + "/other").content == b"ok"
        with pytest.raises(pytest.fail.Exception, match="only 0 of 1"):
            recorder.wait_for(1, path="/never", timeout=0.1)


async def test_a_connect_cancelled_before_its_attempt_starts_is_not_an_error() -> None:
    """anyio (4.14+) runs each task-group child inside a handle coroutine. A child cancelled
    before its first step never awaits the coroutine it wraps, and CPython warns "coroutine
    ... was never awaited" when that is collected. httpx connects through anyio's
    ``connect_tcp``, whose ``try_connect`` child is exactly such a task: the simulator, shutting
    down while a webhook delivery had just started connecting, left one behind, and with
    ``filterwarnings = error`` the warning became an error in whichever test was running. This
    reproduces that cancellation; it errors without the filter for ``try_connect`` in pyproject."""
    me = asyncio.current_task()
    connect = asyncio.create_task(anyio.connect_tcp("127.0.0.1", free_port()))

    def cancel_the_rest() -> None:  # runs after connect_tcp spawned its attempt, before it ran
        for task in asyncio.all_tasks():
            if task is not me:
                task.cancel()

    asyncio.get_running_loop().call_soon(cancel_the_rest)
    [outcome] = await asyncio.gather(connect, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError)
    del connect, outcome
    await asyncio.sleep(0)
    gc.collect()
