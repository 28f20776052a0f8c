"""The gateway and quarantine over real HTTP: a blocked output is refused by ``/content``, its
thumbnail and signed links (451 ``output_quarantined``); admins list, show, release and delete
it through ``/v1/admin/quarantine``; a tenant's policy falls back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import wait_until
from tests.test_gateway import SMALL, Server, _serve, wait_done
from vidgate.safety.policy import store_policy
from vidgate.server import create_app
from vidgate.settings import Settings
from vidgate.simulator.server import free_port

MARKED = "[simulate:unsafe-output] a fox"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Any]]:
    port = free_port()
    settings = Settings(
        home=tmp_path_factory.mktemp("quarantine-gateway"),
        simulated_latency=0.3,
        poll_interval=0.05,
        queue_poll_interval=0.1,
        scanners="marker",
        public_url=f"http://127.0.0.1:{port}",
    )
    app = create_app(settings)
    server, thread = _serve(app, port)
    try:
        yield Server(f"http://127.0.0.1:{port}", settings, app.state.gateway.tenants), app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_blocked_output_is_never_served_until_an_admin_releases_it(
    gateway: tuple[Server, Any],
) -> None:
    gw, app = gateway
    admin = gw.client(gw.key("ops", admin=True))
    with gw.client(gw.key("acme")) as http, admin:
        created = http.post(
            "/v1/videos", json={"prompt": MARKED, "model": "simulated:synth-1", **SMALL}
        )
        assert created.status_code == 200, created.text
        video = wait_done(http, created.json()["id"])
        job_id = video["id"]
        assert video["status"] == "failed" and video["error"]["code"] == "output_blocked"
        assert video["scan"]["verdict"] == "block" and video["scan"]["categories"] == ["sexual"]
        assert video["scan"]["frames"] and video["urls"] == {}
        # Refused by every route that serves files: content, its thumbnail, a signed link.
        for variant in ("video", "thumbnail"):
            refused = http.get(f"/v1/videos/{job_id}/content", params={"variant": variant})
            assert refused.status_code == 451 and code(refused) == "output_quarantined"
        signed = app.state.gateway.signed_url(gw.url, job_id, "video")
        assert httpx.get(signed).status_code == 451

        # Admins only.
        assert http.get("/v1/admin/quarantine").status_code == 403
        listed = admin.get("/v1/admin/quarantine").json()["data"]
        (item,) = [i for i in listed if i["job_id"] == job_id]
        assert item["status"] == "held" and item["tenant"] == "acme"
        assert item["video_key"].startswith("quarantine/") and item["scan"]["scanners"] == [
            "marker"
        ]
        assert admin.get(f"/v1/admin/quarantine/{item['id']}").json()["id"] == item["id"]
        missing = admin.get("/v1/admin/quarantine/q_nosuch")
        assert missing.status_code == 404 and code(missing) == "not_found"

        # Recorded at once; a durable workflow delivers it (engine/release.py).
        released = admin.post(f"/v1/admin/quarantine/{item['id']}/release")
        assert released.status_code == 202 and released.json()["status"] == "released"
        assert released.json()["delivery"] in ("in_progress", "completed")
        assert released.json()["resolved_by"].startswith("key ")
        twice = admin.post(f"/v1/admin/quarantine/{item['id']}/release")
        assert twice.status_code == 409 and code(twice) == "quarantine_conflict"
        video = wait_until(
            lambda: (v := http.get(f"/v1/videos/{job_id}").json())["status"] == "completed" and v,
            60,
            interval=0.05,
            what="the release workflow to deliver the video",
        )
        assert video["scan"]["released"] is True
        shown = admin.get(f"/v1/admin/quarantine/{item['id']}").json()
        assert shown["delivery"] == "completed"
        served = http.get(f"/v1/videos/{job_id}/content")
        assert served.status_code == 200 and served.content[4:8] == b"ftyp"
        assert httpx.get(video["urls"]["video"]).status_code == 200
        again = admin.delete(f"/v1/admin/quarantine/{item['id']}")
        assert again.status_code == 409 and code(again) == "quarantine_conflict"


def test_a_tenant_policy_falls_back_and_an_admin_deletes_the_blocked_output(
    gateway: tuple[Server, Any],
) -> None:
    gw, _ = gateway
    key = gw.key("fallback-co")
    store_policy(gw.book.engine, "fallback-co", {"on_output_block": "fallback"})
    with gw.client(key) as http, gw.client(gw.key("ops2", admin=True)) as admin:
        created = http.post(
            "/v1/videos", json={"prompt": "[simulate:unsafe-output@1] a fox", **SMALL}
        )
        video = wait_done(http, created.json()["id"])
        assert video["status"] == "completed", video["error"]
        assert [a["status"] for a in video["attempts"]] == ["failed", "succeeded"]
        assert video["attempts"][0]["error"]["code"] == "output_blocked"
        assert video["scan"]["verdict"] == "allow" and video["scan"]["attempt"] == 2
        assert http.get(f"/v1/videos/{video['id']}/content").status_code == 200
        listed = admin.get(
            "/v1/admin/quarantine", params={"tenant": "fallback-co", "status": "all"}
        ).json()["data"]
        (item,) = listed
        deleted = admin.delete(f"/v1/admin/quarantine/{item['id']}")
        assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
        gone = admin.get("/v1/admin/quarantine", params={"tenant": "fallback-co"}).json()
        assert gone["data"] == []
        assert admin.get("/v1/admin/quarantine", params={"status": "bogus"}).status_code == 400
