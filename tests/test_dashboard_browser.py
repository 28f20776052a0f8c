"""The dashboard in real headless Chromium: sign in through the form, create a job from a
template with the live estimate, watch it complete without reloading, play it, see its cost
in the spend chart, cancel a job, and the refusals (another tenant's job by URL, a forged
post). Each page is saved to ``screenshots/`` (git-ignored; CI keeps it as an artifact)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium  # noqa: F401 - the fixture
from tests.budget_support import FIRST_PER_SECOND, priced_catalog
from tests.test_gateway import SMALL, Server, running_gateway, wait_done
from vidgate.catalog import loader

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
LIGHT = '{"tiers": [], "hls": true, "sprite": true, "poster": true, "preview": false}'

#: Plays the job page's player (muted) and reports what a viewer sees.
_PLAYED = """
async () => {
  const v = document.getElementById('player');
  v.muted = true;
  await new Promise((ok, bad) => {
    if (v.readyState >= 2) return ok();
    const t = setTimeout(() => bad(new Error('no data; readyState ' + v.readyState)), 20000);
    v.addEventListener('loadeddata', () => { clearTimeout(t); ok(); }, {once: true});
  });
  const ready = v.readyState;
  await v.play();
  const start = v.currentTime;
  await new Promise(ok => { const tick = () => v.currentTime > start + 0.2 ? ok() :
    requestAnimationFrame(tick); tick(); });
  return {ready, start, now: v.currentTime, duration: v.duration,
          how: document.getElementById('player-source').textContent};
}
"""


def _window_later() -> str:
    """An off-peak window that opens in two hours: batch jobs wait (cancellable) meanwhile."""
    start = datetime.now(UTC) + timedelta(hours=2)
    return f"{start:%H:00}-{start + timedelta(hours=1):%H:00}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as patch:
        priced_catalog(tmp_path_factory.mktemp("catalog"), patch)
        with running_gateway(
            tmp_path_factory.mktemp("dashboard-browser"),
            signed_links=True,
            dashboard_refresh=0.1,
            delivery_profile=LIGHT,
            batch_window=_window_later(),
            batch_timezone="UTC",
        ) as server:
            yield server
    loader._cached.cache_clear()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)


def _signed_in(browser: Any, server: Server, key: str, *, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/jobs")  # not signed in: sent to the sign-in page, then back
    assert "/login" in page.url
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/jobs")
    return page


def test_create_watch_play_and_pay(gateway: Server, chromium: Any) -> None:  # noqa: F811
    key = gateway.key("browser-acme")
    page = _signed_in(chromium, gateway, key)
    _shot(page, "jobs-empty")

    page.click("text=New video")
    page.select_option("#template", "product-shot")
    page.fill("#var_product-shot__product", "a red sneaker")
    page.fill("#duration", "1")
    page.select_option("#resolution", "360p")
    page.click("text=Routing, negative prompt, seed, user")
    page.fill("#user", "dora")
    # The live estimate: the chosen model and its price appear before anything is created.
    page.wait_for_selector("#estimate .chosen", timeout=20_000)
    assert f"${FIRST_PER_SECOND:.2f}" in page.inner_text("#estimate")
    _shot(page, "create")
    page.click("button[value=generate]")
    page.wait_for_url(f"{gateway.url}/jobs/job_*")
    job_id = page.url.rsplit("/", 1)[1]
    # The page follows the job by itself (server-sent events) and shows the player when done.
    page.wait_for_selector("#player", timeout=90_000)
    assert page.inner_text("#job-status") == "completed"
    played = page.evaluate(_PLAYED)
    assert played["ready"] >= 2 and played["now"] > played["start"]
    assert abs(played["duration"] - SMALL["duration"]) < 0.3
    _shot(page, "job")

    # The list follows new jobs without a reload.
    page.goto(f"{gateway.url}/jobs")
    with gateway.client(key) as api:
        later = api.post("/v1/videos", json={"prompt": "a second one", **SMALL}).json()["id"]
        page.wait_for_selector(f"tr[data-job='{later}']", timeout=20_000)
        wait_done(api, later)
    page.wait_for_selector(f"tr[data-job='{later}'] .status.completed", timeout=20_000)
    assert page.locator(f"tr[data-job='{job_id}']").count() == 1
    _shot(page, "jobs")

    page.goto(f"{gateway.url}/spend?window=day&by=user")
    assert "dora" in page.inner_text(".legend")
    assert page.locator("figure.chart rect").count() >= 1
    _shot(page, "spend")
    page.goto(f"{gateway.url}/providers?window=hour")
    assert "simulated:synth-1" in page.inner_text("main")
    _shot(page, "providers")

    phone = _signed_in(chromium, gateway, key, width=390)
    for name, path in (("jobs", "/jobs"), ("job", f"/jobs/{job_id}"), ("create", "/create")):
        phone.goto(gateway.url + path)
        wide = phone.evaluate("document.documentElement.scrollWidth")
        assert wide <= 391, f"{path} is wider than a phone: {wide}px"
        _shot(phone, f"{name}-phone")


def test_cancel_and_the_refusals(gateway: Server, chromium: Any) -> None:  # noqa: F811
    key, other = gateway.key("browser-cancel"), gateway.key("browser-other")
    with gateway.client(key) as api:
        waiting = api.post(
            "/v1/videos", json={"prompt": "an off-peak job", "priority": "batch", **SMALL}
        ).json()["id"]
    with gateway.client(other) as api:
        secret = api.post("/v1/videos", json={"prompt": "another tenant's job", **SMALL}).json()
    page = _signed_in(chromium, gateway, key)

    # A forged post from another site: the browser does not send the session (SameSite), and
    # a same-site post without the form's token is refused.
    page.set_content(
        f'<form method="post" action="{gateway.url}/jobs/{waiting}/cancel">'
        '<input name="csrf" value="guess"></form>'
    )
    page.evaluate("document.forms[0].submit()")
    page.wait_for_load_state()
    page.goto(f"{gateway.url}/jobs/{waiting}")
    status = page.evaluate(
        f"fetch('/jobs/{waiting}/cancel', {{method: 'POST'}}).then(r => r.status)"
    )
    assert status == 403
    with gateway.client(key) as api:
        assert api.get(f"/v1/videos/{waiting}").json()["status"] == "queued"

    # Another tenant's job by URL: not found, and nothing of it shown.
    answer = page.goto(f"{gateway.url}/jobs/{secret['id']}")
    assert answer is not None and answer.status == 404
    assert "another tenant's job" not in page.content()
    _shot(page, "not-found")

    page.goto(f"{gateway.url}/jobs/{waiting}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button.danger")
    page.wait_for_selector("#job-status.canceled", timeout=20_000)
    with gateway.client(key) as api:
        assert api.get(f"/v1/videos/{waiting}").json()["status"] == "canceled"
    _shot(page, "cancelled")
