"""The Admin pages in real headless Chromium: an admin signs in through the form, opens the
quarantine, releases a held video (accepting the confirm dialog) and the job then plays.
Every admin page is saved as a full-page screenshot, wide and phone-sized, under
``screenshots/`` (CI artifacts; ignored by git)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium  # noqa: F401  (the fixture)
from tests.test_dashboard import LIGHT
from tests.test_dashboard_admin import MARKED, released_job
from tests.test_gateway import SMALL, Server, running_gateway, wait_done

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(
        tmp_path_factory.mktemp("dashboard-admin-browser"),
        signed_links=True,
        scanners="marker",
        delivery_profile=LIGHT,
        dashboard_refresh=0.05,
        webhook_retry_base=0.05,
        webhook_max_attempts=1,
        ssrf_allow=["127.0.0.1"],
    ) as server:
        yield server


def _held(server: Server, admin_key: str) -> tuple[str, str, str]:
    """A held output of tenant acme's: (its job, the quarantine item, acme's key)."""
    tenant_key = server.key("acme", name="acme backend")
    with server.client(tenant_key) as api:
        created = api.post(
            "/v1/videos", json={"prompt": MARKED, "model": "simulated:synth-1", **SMALL}
        )
        video = wait_done(api, created.json()["id"])
        assert video["status"] == "failed", video
        # A failed client-webhook delivery for the Webhooks page: nothing listens there.
        api.post("/v1/videos", json={"prompt": "a heron", "webhook_url": "http://127.0.0.1:9/",
                                     **SMALL})  # fmt: skip
    with server.client(admin_key) as ops:
        ops.put("/v1/admin/budgets/acme", json={"daily_usd": 20, "daily_videos": 50})
        ops.put("/v1/admin/budgets/acme", params={"user": "user-7"}, json={"daily_usd": 2})
        ops.patch("/v1/admin/tenants/acme", json={"rate_limit": "120/min", "max_concurrent": 8})
        (item,) = ops.get("/v1/admin/quarantine", params={"job_id": video["id"]}).json()["data"]
    return video["id"], item["id"], tenant_key


#: When the page is wider than the viewport: the elements that stick out.
_WIDEST = """
(width) => document.documentElement.scrollWidth <= width + 1 ? [] :
  [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
                 + Math.round(e.getBoundingClientRect().right))
"""


def _shoot(browser: Any, url: str, cookies: list[Any], name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies(cookies)
        page = context.new_page()
        try:
            page.goto(url)
            page.wait_for_load_state("load")
            page.screenshot(path=str(SHOTS / f"admin-{name}-{label}.png"), full_page=True)
            wide = page.evaluate(_WIDEST, width)
            assert not wide, f"{name} at {width}px: wider than the page: {wide}"
        finally:
            context.close()


def test_an_admin_releases_a_held_video_and_it_plays(
    gateway: Server,
    chromium: Any,  # noqa: F811
) -> None:
    admin_key = gateway.key("ops", admin=True, name="ops console")
    job_id, item_id, tenant_key = _held(gateway, admin_key)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{gateway.url}/login")
        page.fill("#key", admin_key)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/jobs$"))
        page.click("nav[aria-label=Main] >> text=Admin")
        page.wait_for_url(re.compile(r"/admin$"))
        page.click("a.tile[href='/admin/quarantine']")
        page.wait_for_url(re.compile(r"/admin/quarantine$"))
        page.click(f"a[href='/admin/quarantine/{item_id}']")
        page.wait_for_url(re.compile(f"/admin/quarantine/{item_id}$"))
        assert "sexual" in page.inner_text("main")
        cookies = context.cookies()
        for name, target in [
            ("overview", "/admin"),
            ("tenants", "/admin/tenants"),
            ("tenant", "/admin/tenants/acme"),
            ("keys", "/admin/keys"),
            ("budgets", "/admin/budgets"),
            ("quarantine", "/admin/quarantine"),
            ("review", f"/admin/quarantine/{item_id}"),
            ("webhooks", "/admin/webhooks"),
        ]:
            _shoot(chromium, gateway.url + target, cookies, name)

        dialogs: list[str] = []

        def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        page.click("button:has-text('Release')")
        page.wait_for_url(re.compile(r"done=released"))
        assert dialogs and "Release this output" in dialogs[0]
        assert "Released: the video is served" in page.inner_text("main")
        with gateway.client(tenant_key) as api:
            released_job(api, job_id)

        page.click(f"a[href='/jobs/{job_id}']")
        page.wait_for_url(re.compile(f"/jobs/{job_id}$"))
        page.wait_for_function(
            "() => { const v = document.getElementById('player');"
            " return v && v.readyState >= 2 && v.videoWidth > 0; }",
            timeout=20_000,
        )
        page.evaluate(
            "() => { const v = document.getElementById('player'); v.muted = true;"
            " return v.play(); }"
        )
        page.wait_for_function(
            "() => document.getElementById('player').currentTime > 0.2", timeout=20_000
        )
        assert not [p for p in problems if "Content Security Policy" in p], problems
    finally:
        context.close()


def test_a_key_made_in_the_browser_is_shown_once(
    gateway: Server,
    chromium: Any,  # noqa: F811
) -> None:
    admin_key = gateway.key("ops", admin=True)
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{gateway.url}/login?next=/admin/keys")
        page.fill("#key", admin_key)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/admin/keys$"))
        page.fill("#k-tenant", "newco")
        page.fill("#k-name", "mobile app")
        page.click("button:has-text('Create key')")
        shown = page.input_value("#new-key")
        assert shown.startswith("vg_") and "Copy it now" in page.inner_text("main")
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "admin-new-key-phone.png"), full_page=True)
        page.click("text=I have copied it")
        page.wait_for_url(re.compile(r"/admin/keys$"))
        assert shown not in page.content() and "mobile app" in page.content()
    finally:
        context.close()
