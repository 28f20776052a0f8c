"""What the gateway delivers plays in a real browser (headless Chromium): each variant reaches
``readyState >= 2``, time advances, the duration and size match, and a frame is not blank —
the browser-safe MP4, a smaller tier, the WebM, the HLS set through its signed path, and the
player page (no API key in it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import assert_plays, play
from tests.test_gateway import Server, running_gateway, wait_done

PLAYER_ORIGIN = "https://player.example"
PROFILE = {"tiers": ["240p"], "webm": True, "hls": True, "sprite": False, "preview": False}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(
        tmp_path_factory.mktemp("playback"),
        signed_links=True,
        delivery_profile=json.dumps(PROFILE),
        cors_origins=[PLAYER_ORIGIN],
    ) as server:
        yield server


@pytest.fixture(scope="module")
def video(gateway: Server) -> dict[str, Any]:
    body = {"prompt": "a red fox in snow", "duration": 2, "resolution": "360p", "seed": 3}
    with gateway.client(gateway.key("playback")) as client:
        done = wait_done(client, client.post("/v1/videos", json=body).json()["id"], 120)
    assert done["status"] == "completed", done
    return done


def test_the_delivered_mp4_plays_in_chromium(
    gateway: Server, video: dict[str, Any], chromium: Any
) -> None:
    result = play(chromium, f"{gateway.url}/healthz", video["urls"]["video"])
    assert_plays(result, duration=2.0, size=(640, 360))


@pytest.mark.parametrize(("variant", "size"), [("240p", (426, 240)), ("webm", (640, 360))])
def test_each_rendition_plays_in_chromium(
    gateway: Server, video: dict[str, Any], chromium: Any, variant: str, size: tuple[int, int]
) -> None:
    result = play(chromium, f"{gateway.url}/healthz", video["urls"][variant])
    assert_plays(result, duration=2.0, size=size)


def test_the_hls_set_plays_through_its_signed_path(
    gateway: Server, video: dict[str, Any], chromium: Any
) -> None:
    master = video["urls"]["hls"]
    assert "/hls/" in master and master.endswith("/master.m3u8") and "Bearer" not in master
    listing = httpx.get(master, timeout=30)
    assert listing.status_code == 200 and listing.text.startswith("#EXTM3U")
    result = play(chromium, f"{gateway.url}/healthz", master)
    assert_plays(result, (426, 240), duration=2.0, size=(640, 360))  # either rung
    # A player on another origin may read it (CORS, with its preflight for a Range request).
    asked = httpx.get(master, headers={"Origin": PLAYER_ORIGIN}, timeout=30)
    assert asked.headers["access-control-allow-origin"] == PLAYER_ORIGIN
    before = httpx.options(
        master,
        headers={
            "Origin": PLAYER_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
        timeout=30,
    )
    assert before.status_code == 204 and "Range" in before.headers["access-control-allow-headers"]
    # A forged signature is refused, for the playlist and for what it names alike.
    prefix, _sig, name = master.rsplit("/", 2)
    for file in (name, "240p/index.m3u8"):
        assert httpx.get(f"{prefix}/{'0' * 40}/{file}", timeout=30).status_code == 403


@pytest.mark.parametrize(
    ("query", "player"),
    [("", "HLS, played by the browser"), ("?hls=js", "HLS, played with hls.js")],
)
def test_the_player_page_plays_without_a_key(
    gateway: Server, video: dict[str, Any], chromium: Any, query: str, player: str
) -> None:
    page_url = video["urls"]["player"] + query
    page_html = httpx.get(page_url, timeout=30)
    assert page_html.status_code == 200 and "<video" in page_html.text
    assert "vg_" not in page_html.text  # no API key is ever written into a page
    page = chromium.new_page()
    try:
        page.goto(page_url)
        page.wait_for_function(
            "() => { const v = document.getElementById('player');"
            " return v.readyState >= 2 && v.videoWidth > 0; }",
            timeout=20_000,
        )
        page.evaluate(
            "() => { const v = document.getElementById('player'); v.muted = true;"
            " return v.play(); }"
        )
        page.wait_for_function(
            "() => document.getElementById('player').currentTime > 0.2", timeout=20_000
        )
        how = page.inner_text("#source")
        assert how == player, how
        shots = Path(__file__).resolve().parents[1] / "screenshots"
        shots.mkdir(exist_ok=True)  # CI artifacts; ignored by git
        page.screenshot(path=str(shots / f"player{query.replace('?', '-').replace('=', '-')}.png"))
    finally:
        page.close()
