"""What the gateway delivers plays in a real browser (headless Chromium): the video reaches
``readyState >= 2``, time advances, the duration and size match, and a frame is not blank."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import assert_plays, play
from tests.test_gateway import Server, running_gateway, wait_done


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(tmp_path_factory.mktemp("playback"), signed_links=True) as server:
        yield server


def test_the_delivered_mp4_plays_in_chromium(gateway: Server, chromium: Any) -> None:
    body = {"prompt": "a red fox in snow", "duration": 2, "resolution": "360p", "seed": 3}
    with gateway.client(gateway.key("playback")) as client:
        video = wait_done(client, client.post("/v1/videos", json=body).json()["id"])
        assert video["status"] == "completed", video
        signed = video["urls"]["video"]  # a signed link: a <video> element sends no API key
    result = play(chromium, f"{gateway.url}/healthz", signed)
    assert_plays(result, duration=2.0, size=(640, 360))
