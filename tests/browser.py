"""Headless Chromium for the playback tests: Debian's ``chromium`` (``.ci/chromium`` installs
it), driven by Playwright with no browser download.

``play(page, url)`` loads a media URL into a ``<video>`` element (HLS through the browser's own
player, or hls.js when a page brings it) and reports what a viewer would see: the ready state,
whether time advances, the duration, the frame size, and whether a captured frame is blank.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("VIDGATE_TEST_CHROMIUM") or shutil.which("chromium") or ""

#: Load, play for half a second, and look at one frame.
_PLAY = """
async ([url]) => {
  const v = document.createElement('video');
  v.muted = true; v.playsInline = true; v.crossOrigin = 'anonymous';
  document.body.appendChild(v);
  v.src = url;
  await new Promise((ok, bad) => {
    const t = setTimeout(
      () => bad(new Error('no data within 20 s; readyState ' + v.readyState)), 20000);
    v.onloadeddata = () => { clearTimeout(t); ok(); };
    v.onerror = () => { clearTimeout(t); bad(new Error('media error ' + (v.error && v.error.code)
      + ' ' + (v.error && v.error.message))); };
  });
  const ready = v.readyState;
  await v.play();
  const start = v.currentTime;
  await new Promise(ok => { const tick = () => v.currentTime > start + 0.2 ? ok() :
    requestAnimationFrame(tick); tick(); });
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0, sq = 0, n = 0;
  for (let i = 0; i < px.length; i += 16) { const y = (px[i] + px[i+1] + px[i+2]) / 3;
    sum += y; sq += y * y; n++; }
  const mean = sum / n;
  return {ready, start, now: v.currentTime, duration: v.duration, width: v.videoWidth,
          height: v.videoHeight, mean, spread: Math.sqrt(Math.max(sq / n - mean * mean, 0))};
}
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium, launched once per test file. Skipped when Chromium is missing,
    except in CI (``CI`` set), where a missing browser is a failure: ``.ci/run`` installs it.
    Not once per run: Playwright's sync API runs an event loop on this thread while it is
    open, and a later file's ``asyncio.run`` would refuse to start beside it."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with .ci/chromium")
        pytest.skip("Chromium is not installed (bash .ci/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
        try:
            yield browser
        finally:
            browser.close()


def play(browser: Any, page_url: str, media_url: str) -> dict[str, Any]:
    """Open ``page_url`` (an origin to play from) and play ``media_url`` in a video element."""
    page = browser.new_page()
    try:
        page.goto(page_url)
        result: dict[str, Any] = page.evaluate(_PLAY, [media_url])
        return result
    finally:
        page.close()


def assert_plays(
    result: dict[str, Any], *more: tuple[int, int], duration: float, size: tuple[int, int]
) -> None:
    """What "it plays" means: data for the current frame, time advancing, the right duration
    and size (one of ``size`` and ``more``: an HLS player picks its rung of the ladder), and a
    frame that is not blank (not one flat colour)."""
    assert result["ready"] >= 2, result
    assert result["now"] > result["start"], result
    assert abs(result["duration"] - duration) < 0.25, result
    assert (result["width"], result["height"]) in (size, *more), result
    assert result["spread"] > 8, f"the frame is blank: {result}"


def play_page(browser: Any, page_url: str, *, timeout_ms: int = 20_000) -> dict[str, Any]:
    """Open a player page (``server/static/player.html``), wait until its ``<video>`` has data,
    play it muted until time advances, and report what happened: ``ready`` (the ready state
    when data came), ``now`` (the time reached), ``how`` (which way the page plays: natively,
    hls.js, MP4) and ``failed`` (what the page or its network refused, for the message)."""
    page = browser.new_page()
    failed: list[str] = []
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed.append(f"{r.url[:160]}: {r.failure}"))
    page.on(
        "response",
        lambda r: failed.append(f"{r.status} {r.url[:160]}") if r.status >= 400 else None,
    )
    try:
        page.goto(page_url)
        try:
            page.wait_for_function(
                "() => { const v = document.getElementById('player');"
                " return v.readyState >= 2 && v.videoWidth > 0; }",
                timeout=timeout_ms,
            )
            ready = page.evaluate("() => document.getElementById('player').readyState")
            page.evaluate(
                "() => { const v = document.getElementById('player'); v.muted = true;"
                " return v.play(); }"
            )
            page.wait_for_function(
                "() => document.getElementById('player').currentTime > 0.2", timeout=timeout_ms
            )
        except Exception as exc:  # the page's own errors say more than a timeout
            raise AssertionError(f"the player did not play: {failed or exc}") from exc
        now = page.evaluate("() => document.getElementById('player').currentTime")
        return {"ready": ready, "now": now, "how": page.inner_text("#source"), "failed": failed}
    finally:
        page.close()
