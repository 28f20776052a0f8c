"""The dashboard's Admin pages over real HTTP (a browser's requests, without the browser):
admins only, CSRF on every form, tenants' limits, keys (shown once; revoke), budgets, the
quarantine (release, delete) and client-webhook redelivery; and ``/v1/admin/keys``, the API the
Keys page mirrors. tests/test_dashboard_admin_browser.py drives real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from markupsafe import escape

from tests.dashboard_support import csrf_of, sign_in
from tests.support import wait_until
from tests.test_dashboard import LIGHT
from tests.test_gateway import SMALL, Receiver, Server, _serve, running_gateway, wait_done
from vidgate.simulator.server import free_port

#: The simulator renders it; the marker scanner blocks it ("sexual"): a held output.
MARKED = "[simulate:unsafe-output] a fox"

PAGES = ["/admin", "/admin/tenants", "/admin/keys", "/admin/budgets", "/admin/quarantine",
         "/admin/webhooks"]  # fmt: skip


@dataclass
class World:
    server: Server
    receiver: Receiver
    hook: str
    admin_key: str
    tenant_key: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = Receiver(fail_first=1)  # the first delivery fails for good (one attempt)
    port = free_port()
    hook_server, thread = _serve(receiver, port)
    try:
        with running_gateway(
            tmp_path_factory.mktemp("dashboard-admin"),
            signed_links=True,
            scanners="marker",
            delivery_profile=LIGHT,
            dashboard_refresh=0.05,
            webhook_retry_base=0.05,
            webhook_max_attempts=1,
            ssrf_allow=["127.0.0.1"],
        ) as server:
            yield World(
                server,
                receiver,
                f"http://127.0.0.1:{port}/hook",
                server.key("adm-ops", admin=True, name="ops console"),
                server.key("adm-acme", name="acme backend"),
            )
    finally:
        hook_server.should_exit = True
        thread.join(timeout=10)


def held_video(world: World, tenant: str = "adm-acme") -> tuple[str, str]:
    """A job whose output the scan blocked: (job id, quarantine item id)."""
    server = world.server
    with server.client(server.key(tenant)) as api, server.client(world.admin_key) as ops:
        created = api.post(
            "/v1/videos", json={"prompt": MARKED, "model": "simulated:synth-1", **SMALL}
        )
        assert created.status_code == 200, created.text
        video = wait_done(api, created.json()["id"])
        assert video["status"] == "failed" and video["error"]["code"] == "output_blocked"
        listed = ops.get("/v1/admin/quarantine", params={"job_id": video["id"]}).json()["data"]
    (item,) = listed
    return video["id"], item["id"]


def released_job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job once a release has made it servable (the release may deliver it after
    answering)."""

    def completed() -> dict[str, Any] | None:
        video: dict[str, Any] = api.get(f"/v1/videos/{job_id}").json()
        return video if video["status"] == "completed" else None

    found: dict[str, Any] = wait_until(completed, 60, interval=0.05, what="the released job")
    return found


def failed_delivery(world: World) -> str:
    """A client-webhook delivery that failed for good (the receiver refused its one attempt)."""
    server = world.server
    with server.client(world.tenant_key) as api, server.client(world.admin_key) as ops:
        world.receiver.fail_first = len(world.receiver.deliveries) + 1
        job = api.post("/v1/videos", json={"prompt": "a wren", "webhook_url": world.hook, **SMALL})
        job_id = job.json()["id"]
        wait_done(api, job_id)

        def failed() -> str | None:  # every event of the job sent, one of them refused
            rows = ops.get("/v1/admin/webhooks", params={"job_id": job_id}).json()["data"]
            if len(rows) < 3 or any(r["status"] == "pending" for r in rows):
                return None
            return next((r["id"] for r in rows if r["status"] == "failed"), None)

        message: str = wait_until(failed, 30, interval=0.05, what="a failed delivery")
        return message


def test_each_admin_page_shows_real_rows(world: World) -> None:
    server = world.server
    job_id, item_id = held_video(world)
    message = failed_delivery(world)
    with server.client(world.admin_key) as ops:
        assert ops.put("/v1/admin/budgets/adm-acme", json={"daily_usd": 12.5}).status_code == 200
    admin = sign_in(server.url, world.admin_key)
    overview = admin.get("/admin")
    assert overview.status_code == 200
    assert overview.headers["cache-control"] == "no-store"
    for section in PAGES[1:]:
        assert f'href="{section}' in overview.text
    tiles = re.findall(r'tile-count">(\d+)\+?</span>\s*<span class="tile-label">([^<]+)<',
                       overview.text)  # fmt: skip
    held = {label: int(n) for n, label in tiles}
    assert {"Tenants", "Active keys", "Held videos", "Failed webhook deliveries"} <= set(held)
    assert held["Tenants"] >= 2 and held["Active keys"] >= 2
    assert held["Held videos"] >= 1 and held["Failed webhook deliveries"] >= 1

    tenants = admin.get("/admin/tenants").text
    assert 'href="/admin/tenants/adm-acme"' in tenants
    tenant = admin.get("/admin/tenants/adm-acme").text
    assert "Change limits" in tenant and "Safety policy in effect" in tenant

    keys = admin.get("/admin/keys").text
    assert "acme backend" in keys and "ops console" in keys
    assert world.tenant_key not in keys and world.tenant_key.split("_")[2] not in keys
    assert "this session&#39;s key" in keys or "this session's key" in keys

    budgets = admin.get("/admin/budgets").text
    assert "adm-acme" in budgets and "$12.50" in budgets

    quarantine = admin.get("/admin/quarantine").text
    assert item_id in quarantine and job_id in quarantine and "sexual" in quarantine
    review = admin.get(f"/admin/quarantine/{item_id}")
    assert review.status_code == 200
    assert "marker" in review.text and f"/jobs/{job_id}" in review.text
    assert "Frames that triggered it" in review.text
    thumb = admin.get(f"/admin/quarantine/{item_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert thumb.headers["cache-control"] == "no-store"

    deliveries = admin.get("/admin/webhooks", params={"status": "failed"}).text
    assert message in deliveries and "HTTP 500" in deliveries and "video." in deliveries
    assert "delivered" not in admin.get("/admin/webhooks?status=failed").text.split("<tbody>")[1]
    assert admin.get("/admin/webhooks", params={"status": "bogus"}).status_code == 400


def test_a_tenant_session_gets_403_on_every_admin_page_and_form(world: World) -> None:
    _, item_id = held_video(world, "adm-nosy")
    tenant = sign_in(world.server.url, world.tenant_key)
    token = csrf_of(tenant, "/jobs")
    for target in [*PAGES, "/admin/tenants/adm-acme", f"/admin/quarantine/{item_id}",
                   f"/admin/quarantine/{item_id}/thumbnail"]:  # fmt: skip
        answer = tenant.get(target)
        assert answer.status_code == 403, target
        assert "admin key" in answer.text and "<html" in answer.text
    for target in _posts(world, item_id):
        assert tenant.post(target, data={"csrf": token, "tenant": "adm-acme"}).status_code == 403
    assert "Admin" not in tenant.get("/jobs").text.split("</nav>")[0]


def _posts(world: World, item_id: str) -> list[str]:
    key_id = world.server.book.list_keys("adm-acme")[0].id
    return [
        "/admin/tenants/adm-acme",
        "/admin/keys",
        f"/admin/keys/{key_id}/revoke",
        "/admin/budgets",
        "/admin/budgets/delete",
        f"/admin/quarantine/{item_id}/release",
        f"/admin/quarantine/{item_id}/delete",
        "/admin/webhooks/msg_nosuch/redeliver",
    ]


def test_every_admin_form_needs_its_token_and_changes_nothing_without_it(world: World) -> None:
    server = world.server
    _, item_id = held_video(world, "adm-forged")
    victim = server.book.create_key("adm-forged", name="victim")
    with server.client(world.admin_key) as ops:
        ops.put("/v1/admin/budgets/adm-forged", json={"daily_videos": 3})
    admin = sign_in(server.url, world.admin_key)
    keys_before = len(server.book.list_keys())
    fields = {
        "tenant": "adm-forged",
        "name": "forged",
        "rate_limit": "1/h",
        "max_concurrent": "1",
        "daily_usd": "1",
    }
    posts = [p.replace(server.book.list_keys("adm-acme")[0].id, victim.id) for p in
             _posts(world, item_id)]  # fmt: skip
    posts[0] = "/admin/tenants/adm-forged"
    message = failed_delivery(world)
    posts[-1] = f"/admin/webhooks/{message}/redeliver"
    for target in posts:
        for token in (None, "not-the-token"):
            data = fields if token is None else {**fields, "csrf": token}
            answer = admin.post(target, data=data)
            assert answer.status_code == 403 and "CSRF" in answer.text, target
    assert server.book.get_tenant("adm-forged").rate_limit is None
    assert len(server.book.list_keys()) == keys_before
    assert server.book.get_key(victim.id).revoked_at is None
    with server.client(world.admin_key) as ops:
        budget = ops.get("/v1/admin/budgets/adm-forged").json()
        assert budget["daily_videos"] == 3 and budget["daily_usd"] is None
        item = ops.get(f"/v1/admin/quarantine/{item_id}").json()
        assert item["status"] == "held"
        failed = ops.get("/v1/admin/webhooks", params={"status": "failed"}).json()["data"]
        assert message in [d["id"] for d in failed]


def test_limits_change_and_a_bad_limit_shows_the_form_again(world: World) -> None:
    server = world.server
    server.book.create_key("adm-limits")
    admin = sign_in(server.url, world.admin_key)
    token = csrf_of(admin, "/admin/tenants/adm-limits")
    form = {
        "csrf": token,
        "rate_limit": "30/min",
        "max_concurrent": "4",
        "daily_videos": "",
        "deadline_seconds": "600",
        "default_priority": "batch",
        "strategy_batch": "cheapest",
        "strategy_critical": "",
        "strategy_standard": "",
        "uncertain_submit": "fail",
        "cache_similarity": "0.9",
        "delivery_profile": '{"webm": true}',
    }
    saved = admin.post("/admin/tenants/adm-limits", data=form)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/tenants/adm-limits?done=saved"
    with server.client(world.admin_key) as ops:
        shown = ops.get("/v1/admin/tenants/adm-limits").json()
    assert shown["rate_limit"] == "30/min" and shown["max_concurrent"] == 4
    assert shown["deadline_seconds"] == 600 and shown["default_priority"] == "batch"
    assert shown["strategies"] == {"batch": "cheapest"} and shown["uncertain_submit"] == "fail"
    assert shown["cache_similarity"] == 0.9 and shown["delivery_profile"] == {"webm": True}
    page = admin.get(saved.headers["location"]).text
    assert "Saved." in page and 'value="30/min"' in page

    for name, value, says in [
        ("rate_limit", "lots", "rate limits look like 60/min"),
        ("max_concurrent", "2.5", "max_concurrent must be a whole number"),
        ("max_concurrent", "0", "max_concurrent must be between 1"),
        ("deadline_seconds", "soon", "deadline_seconds must be a number"),
        ("cache_similarity", "7", "cache_similarity must be above 0"),
        ("delivery_profile", "{nope", "delivery_profile is JSON"),
        ("delivery_profile", '{"tiers": ["9999p"]}', "9999p"),
    ]:
        refused = admin.post("/admin/tenants/adm-limits", data={**form, name: value})
        assert refused.status_code == 400, (name, refused.text)
        assert says in refused.text.replace("&#39;", "'"), (name, refused.text)
        assert 'class="problem"' in refused.text and "Traceback" not in refused.text
        assert str(escape(value)) in refused.text  # the form again, as typed
    with server.client(world.admin_key) as ops:
        assert ops.get("/v1/admin/tenants/adm-limits").json()["rate_limit"] == "30/min"
    cleared = admin.post("/admin/tenants/adm-limits", data={**form, "rate_limit": ""})
    assert cleared.status_code == 303 and server.book.get_tenant("adm-limits").rate_limit is None
    missing = admin.post("/admin/tenants/adm-nosuch", data=form)
    assert missing.status_code == 404


def test_a_new_key_is_shown_once_works_and_can_be_revoked(world: World) -> None:
    server = world.server
    admin = sign_in(server.url, world.admin_key)
    token = csrf_of(admin, "/admin/keys")
    made = admin.post(
        "/admin/keys", data={"csrf": token, "tenant": "adm-newco", "name": "mobile app"}
    )
    assert made.status_code == 200 and "Copy it now" in made.text
    assert made.headers["cache-control"] == "no-store"
    (secret,) = re.findall(r'value="(vg_[a-z0-9]{16}_[A-Za-z0-9_-]+)"', made.text)
    assert "set-cookie" not in made.headers
    key_id = secret.split("_")[1]
    with server.client(secret) as api:
        assert api.get("/v1/videos").status_code == 200
        assert api.get("/v1/admin/keys").status_code == 403  # not an admin key
    listing = admin.get("/admin/keys").text
    assert key_id in listing and "mobile app" in listing and secret not in listing
    assert secret.split("_")[2] not in listing

    no_tenant = admin.post("/admin/keys", data={"csrf": token, "tenant": " "})
    assert no_tenant.status_code == 400 and "name the tenant" in no_tenant.text
    bad_name = admin.post("/admin/keys", data={"csrf": token, "tenant": "bad name!"})
    assert bad_name.status_code == 400 and "tenant names are" in bad_name.text

    revoked = admin.post(f"/admin/keys/{key_id}/revoke", data={"csrf": token})
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("done=revoked")
    with server.client(secret) as api:
        assert api.get("/v1/videos").status_code == 401
    assert server.book.get_key(key_id).revoked_at is not None

    own = world.admin_key.split("_")[1]
    refused = admin.post(f"/admin/keys/{own}/revoke", data={"csrf": token})
    assert refused.status_code == 400 and "signed in with" in refused.text
    assert server.book.get_key(own).revoked_at is None
    assert admin.get("/admin").status_code == 200

    made_admin = admin.post("/admin/keys", data={"csrf": token, "tenant": "adm-ops", "admin": "on"})
    (admin_secret,) = re.findall(r'value="(vg_[a-z0-9]{16}_[A-Za-z0-9_-]+)"', made_admin.text)
    with server.client(admin_secret) as api:
        assert api.get("/v1/admin/keys").status_code == 200


def test_the_admin_keys_api(world: World) -> None:
    server = world.server
    anonymous = httpx.Client(base_url=server.url)
    assert anonymous.get("/v1/admin/keys").status_code == 401
    with server.client(world.tenant_key) as tenant:
        assert tenant.get("/v1/admin/keys").status_code == 403
        assert tenant.post("/v1/admin/keys", json={"tenant": "adm-acme"}).status_code == 403
        some = server.book.list_keys("adm-acme")[0].id
        assert tenant.delete(f"/v1/admin/keys/{some}").status_code == 403
    with server.client(world.admin_key) as ops:
        made = ops.post("/v1/admin/keys", json={"tenant": "adm-api", "name": "ci"})
        assert made.status_code == 200, made.text
        body = made.json()
        assert body["object"] == "api_key" and body["key"].startswith(f"vg_{body['id']}_")
        assert body["tenant"] == "adm-api" and body["admin"] is False and body["revoked_at"] is None
        listed = ops.get("/v1/admin/keys", params={"tenant": "adm-api"}).json()["data"]
        assert [k["id"] for k in listed] == [body["id"]] and "key" not in listed[0]
        assert all("key" not in k for k in ops.get("/v1/admin/keys").json()["data"])
        with server.client(body["key"]) as fresh:
            assert fresh.get("/v1/videos").status_code == 200
        gone = ops.delete(f"/v1/admin/keys/{body['id']}")
        assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
        assert ops.delete(f"/v1/admin/keys/{body['id']}").status_code == 200  # as it is
        with server.client(body["key"]) as fresh:
            assert fresh.get("/v1/videos").status_code == 401
        assert ops.delete("/v1/admin/keys/0000000000000000").status_code == 404
        itself = ops.delete(f"/v1/admin/keys/{world.admin_key.split('_')[1]}")
        assert itself.status_code == 400 and "signed in with" in itself.json()["error"]["message"]
        for bad in ({"tenant": ""}, {"tenant": "x", "extra": 1}, {"tenant": "bad name"}):
            assert ops.post("/v1/admin/keys", json=bad).status_code == 400, bad
        schema = ops.get("/openapi.json").json()["paths"]
        assert {"get", "post"} <= set(schema["/v1/admin/keys"])
        assert "404" in schema["/v1/admin/keys/{key_id}"]["delete"]["responses"]


def test_budgets_are_set_and_deleted(world: World) -> None:
    server = world.server
    server.book.create_key("adm-money")
    admin = sign_in(server.url, world.admin_key)
    token = csrf_of(admin, "/admin/budgets")
    base = {"csrf": token, "tenant": "adm-money", "user": "", "daily_usd": "5",
            "monthly_usd": "", "daily_videos": "10", "monthly_seconds": "",
            "timezone": "Europe/Paris", "thresholds": "50, 90"}  # fmt: skip
    saved = admin.post("/admin/budgets", data=base)
    assert saved.status_code == 303, saved.text
    user = admin.post("/admin/budgets", data={**base, "user": "u-1", "timezone": "",
                                              "thresholds": "", "daily_usd": "1"})  # fmt: skip
    assert user.status_code == 303, user.text
    with server.client(world.admin_key) as ops:
        mine = ops.get("/v1/admin/budgets/adm-money").json()
        assert mine["daily_usd"] == 5 and mine["daily_videos"] == 10
        assert mine["timezone"] == "Europe/Paris" and mine["thresholds"] == [50, 90]
        assert (
            ops.get("/v1/admin/budgets/adm-money", params={"user": "u-1"}).json()["daily_usd"] == 1
        )
    edit = admin.get("/admin/budgets", params={"tenant": "adm-money", "user": ""}).text
    assert 'value="Europe/Paris"' in edit and 'value="50, 90"' in edit
    for name, value, says in [
        ("daily_usd", "-1", "daily_usd must be between 0"),
        ("timezone", "Mars/Base", "Mars/Base"),
        ("thresholds", "lots", "thresholds is a list"),
    ]:
        refused = admin.post("/admin/budgets", data={**base, name: value})
        assert refused.status_code == 400 and says in refused.text, (name, refused.text)
    on_user = admin.post("/admin/budgets", data={**base, "user": "u-1"})
    assert on_user.status_code == 400 and "not on a user" in on_user.text
    deleted = admin.post("/admin/budgets/delete", data={"csrf": token, "tenant": "adm-money",
                                                        "user": "u-1"})  # fmt: skip
    assert deleted.status_code == 303
    with server.client(world.admin_key) as ops:
        assert ops.get("/v1/admin/budgets/adm-money", params={"user": "u-1"}).status_code == 404
        assert ops.get("/v1/admin/budgets/adm-money").status_code == 200
    again = admin.post("/admin/budgets/delete", data={"csrf": token, "tenant": "adm-money",
                                                      "user": "u-1"})  # fmt: skip
    assert again.status_code == 404


def test_a_held_video_is_released_or_deleted(world: World) -> None:
    server = world.server
    admin = sign_in(server.url, world.admin_key)
    token = csrf_of(admin, "/admin/quarantine")
    job_id, item_id = held_video(world, "adm-held")
    released = admin.post(f"/admin/quarantine/{item_id}/release", data={"csrf": token})
    assert released.status_code == 303
    assert released.headers["location"] == f"/admin/quarantine/{item_id}?done=released"
    page = admin.get(released.headers["location"]).text
    assert "Released: the video is served" in page and "by key " in page
    with server.client(server.key("adm-held")) as api:
        video = released_job(api, job_id)
        assert video["scan"]["released"] is True
        assert api.get(f"/v1/videos/{job_id}/content").status_code == 200
    twice = admin.post(f"/admin/quarantine/{item_id}/release", data={"csrf": token})
    assert twice.status_code == 409 and "quarantine_conflict" in twice.text

    other_job, other = held_video(world, "adm-held")
    deleted = admin.post(f"/admin/quarantine/{other}/delete", data={"csrf": token})
    assert deleted.status_code == 303
    assert "Deleted." in admin.get(deleted.headers["location"]).text
    with server.client(world.admin_key) as ops:
        assert ops.get(f"/v1/admin/quarantine/{other}").json()["status"] == "deleted"
    with server.client(server.key("adm-held")) as api:
        assert api.get(f"/v1/videos/{other_job}/content").status_code == 451
    assert admin.get(f"/admin/quarantine/{other}/thumbnail").status_code == 404
    listing = admin.get("/admin/quarantine", params={"status": "all"}).text
    assert item_id in listing and other in listing
    assert other not in admin.get("/admin/quarantine").text


def test_a_failed_delivery_is_redelivered(world: World) -> None:
    server = world.server
    message = failed_delivery(world)
    admin = sign_in(server.url, world.admin_key)
    token = csrf_of(admin, "/admin/webhooks?status=failed")
    before = len(world.receiver.deliveries)
    again = admin.post(
        f"/admin/webhooks/{message}/redeliver", data={"csrf": token, "status": "failed"}
    )
    assert again.status_code == 303
    assert again.headers["location"] == "/admin/webhooks?status=failed&done=redelivered"
    wait_until(lambda: len(world.receiver.deliveries) > before, 30, what="the redelivery")
    assert world.receiver.deliveries[-1][0]["webhook-id"] == message
    with server.client(world.admin_key) as ops:

        def delivered() -> bool:
            rows = ops.get("/v1/admin/webhooks", params={"status": "delivered"}).json()["data"]
            return any(r["id"] == message for r in rows)

        wait_until(delivered, 30, interval=0.05, what="the delivery recorded")
    assert message not in admin.get("/admin/webhooks?status=failed").text
    missing = admin.post("/admin/webhooks/msg_nosuch/redeliver", data={"csrf": token})
    assert missing.status_code == 404
