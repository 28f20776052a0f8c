"""The shared test plumbing itself: bounded waits and the loopback recorder."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support import Recorder, recording, wait_until


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
