"""The dashboard on gateways of its own (one at a time: DBOS is one per process): cancel and
retry on a job that is still running, the dashboard under a path, and turned off."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.dashboard_support import csrf_of, sign_in
from tests.test_dashboard import _create
from tests.test_gateway import running_gateway


def test_cancel_and_retry_need_the_form_token(tmp_path: Path) -> None:
    with running_gateway(tmp_path, simulated_latency=120) as slow:
        key = slow.key("dash-cancel")
        client = sign_in(slow.url, key)
        running = _create(slow, key, "a slow glacier")
        forged = client.post(f"/jobs/{running}/cancel", data={"csrf": "not-the-token"})
        assert forged.status_code == 403
        assert client.post(f"/jobs/{running}/cancel").status_code == 403
        token = csrf_of(client, f"/jobs/{running}")
        other_site = client.post(
            f"/jobs/{running}/cancel",
            data={"csrf": token},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
        with slow.client(key) as api:
            assert api.get(f"/v1/videos/{running}").json()["status"] != "canceled"
        cancelled = client.post(f"/jobs/{running}/cancel", data={"csrf": token})
        assert cancelled.status_code == 303
        with slow.client(key) as api:
            assert api.get(f"/v1/videos/{running}").json()["status"] == "canceled"

        again = client.post(f"/jobs/{running}/retry", data={"csrf": token})
        assert again.status_code == 303
        new_id = again.headers["location"].rsplit("/", 1)[1]
        assert new_id != running
        with slow.client(key) as api:
            assert api.get(f"/v1/videos/{new_id}").json()["prompt"] == "a slow glacier"
            api.post(f"/v1/videos/{new_id}/cancel")


def test_the_dashboard_can_live_under_a_path(tmp_path: Path) -> None:
    with running_gateway(tmp_path, dashboard_path="/console") as server:
        key = server.key("dash-path")
        client = sign_in(server.url, key, path="/console")
        assert client.get("/console/jobs").status_code == 200
        assert 'href="/console/static/dashboard.css"' in client.get("/console/jobs").text
        assert client.get("/jobs").status_code == 404  # nothing left at the root
        with server.client(key) as api:
            assert api.get("/v1/videos").status_code == 200


def test_the_dashboard_can_be_turned_off(tmp_path: Path) -> None:
    with running_gateway(tmp_path, dashboard=False) as server:
        assert httpx.get(server.url + "/login").status_code == 404
