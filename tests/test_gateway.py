"""The gateway over real HTTP: the official openai SDK, plain HTTP, tenants, limits, content
delivery, client webhooks, the SSRF guard, metrics and the access log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support import wait_until
from vidgate.server import create_app
from vidgate.server.tenancy import Limits, TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import free_port
from vidgate.webhooks import verify

SMALL = {"duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}


@dataclass
class Server:
    url: str
    settings: Settings
    book: TenantBook

    def key(self, tenant: str, **kw: Any) -> str:
        secret = self.book.create_key(tenant, **kw).secret
        assert secret is not None
        return secret

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )


@contextlib.contextmanager
def running_gateway(home: Path, *, signed_links: bool = False, **values: Any) -> Iterator[Server]:
    """``vidgate serve`` (worker included) in a thread on a free loopback port, with the
    tests' fast timings; ``signed_links`` sets ``VIDGATE_PUBLIC_URL`` to its own address."""
    port = free_port()
    fast: dict[str, Any] = {
        "simulated_latency": 0.3,
        "poll_interval": 0.05,
        "queue_poll_interval": 0.1,
    }
    if signed_links:
        fast["public_url"] = f"http://127.0.0.1:{port}"
    settings = Settings(home=home, **{**fast, **values})
    app = create_app(settings)
    server, thread = _serve(app, port)
    try:
        yield Server(f"http://127.0.0.1:{port}", settings, app.state.gateway.tenants)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 30, what="the server starting")
    assert server.started, "server did not start"
    return server, thread


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(
        tmp_path_factory.mktemp("gateway"),
        signed_links=True,  # signed links are made only from VIDGATE_PUBLIC_URL
        webhook_retry_base=0.1,
        ssrf_allow=["127.0.0.1"],
        max_body_bytes=2_000_000,
    ) as server:
        yield server


def wait_done(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        video: dict[str, Any] = client.get(f"/v1/videos/{job_id}").json()
        return video if video["status"] in ("completed", "failed", "canceled") else None

    return wait_until(ended, timeout, interval=0.05, what=f"{job_id} finishing")


def test_the_official_openai_sdk_runs_a_job(gateway: Server, tmp_path: Path) -> None:
    import openai

    sdk = openai.OpenAI(api_key=gateway.key("sdk"), base_url=f"{gateway.url}/v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks Sora deprecated
        created = sdk.videos.create(prompt="a paper boat", seconds="4", size="640x360")
        assert created.status == "queued" and created.id.startswith("job_")
        video = wait_until(
            lambda: (
                (read := sdk.videos.retrieve(created.id)).status in ("completed", "failed") and read
            ),
            60,
            interval=0.05,
            what="the video ending",
        )
        assert video.status == "completed" and video.progress == 100
        body = sdk.videos.download_content(video.id, variant="video").read()
        thumb = sdk.videos.download_content(video.id, variant="thumbnail").read()
        second = sdk.videos.create(prompt="a second boat", seconds="4", size="640x360")
        pages = [v.id for v in sdk.videos.list(limit=1)]
        deleted = sdk.videos.delete(created.id)
        with pytest.raises(openai.NotFoundError):
            sdk.videos.retrieve(created.id)
        with pytest.raises(openai.BadRequestError) as bad:
            sdk.videos.create(prompt="x", seconds="4", size="wide")
    assert body[4:8] == b"ftyp" and thumb[:2] == b"\xff\xd8"
    out = tmp_path / "sdk.mp4"
    out.write_bytes(body)
    from vidgate.media.probe import probe

    info = probe(out)
    assert (info.width, info.height, info.duration) == (640, 360, 4.0)
    assert pages == [second.id, created.id], "the SDK pages through every video, newest first"
    assert deleted.deleted
    assert "size must look like 1280x720" in bad.value.message


def test_plain_http_with_vidgate_fields_events_and_content(gateway: Server) -> None:
    with gateway.client(gateway.key("plain")) as http:
        created = http.post(
            "/v1/videos",
            json={"prompt": "a heron", "seed": 5, "metadata": {"order": "42"}, **SMALL},
        )
        assert created.status_code == 200, created.text
        job = created.json()
        assert job["metadata"] == {"order": "42"} and job["quote"]["usd"] == 0
        events = []
        with http.stream("GET", f"/v1/videos/{job['id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
        assert events[-1] == "video.completed" and len(events) >= 2
        video = http.get(f"/v1/videos/{job['id']}").json()
        assert video["media"]["height"] == 360 and video["attempts"][0]["status"] == "succeeded"
        full = http.get(f"/v1/videos/{job['id']}/content")
        assert full.status_code == 200 and full.headers["cache-control"].startswith("private")
        etag = full.headers["etag"]
        assert (
            http.get(f"/v1/videos/{job['id']}/content", headers={"If-None-Match": etag}).status_code
            == 304
        )
        part = http.get(f"/v1/videos/{job['id']}/content", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == full.content[:100]
    # The signed link needs no key, is cacheable, and is refused once tampered with or expired.
    signed = video["urls"]["video"]
    public = httpx.get(signed)
    assert public.status_code == 200 and public.content == full.content
    assert "public" in public.headers["cache-control"]
    assert httpx.get(signed.replace("sig=", "sig=f")).status_code == 403
    expired = signed.split("?")[0] + "?expires=1&sig=" + signed.rsplit("sig=", 1)[1]
    assert httpx.get(expired).status_code == 403


def test_tenants_are_isolated_and_keys_are_checked(gateway: Server) -> None:
    alice, bob = gateway.key("alice"), gateway.key("bob")
    with gateway.client(alice) as a, gateway.client(bob) as b:
        job = a.post("/v1/videos", json={"prompt": "alice's fox", **SMALL}).json()
        assert b.get(f"/v1/videos/{job['id']}").status_code == 404
        assert b.get(f"/v1/videos/{job['id']}/content").status_code == 404
        assert b.post(f"/v1/videos/{job['id']}/cancel").status_code == 404
        assert job["id"] not in [v["id"] for v in b.get("/v1/videos").json()["data"]]
        assert a.get(f"/v1/videos/{job['id']}").status_code == 200
    missing = httpx.get(f"{gateway.url}/v1/videos")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = httpx.get(f"{gateway.url}/v1/videos", headers={"Authorization": "Bearer vg_x_y"})
    assert wrong.status_code == 401
    assert gateway.book.revoke(bob)
    revoked = httpx.get(f"{gateway.url}/v1/videos", headers={"Authorization": f"Bearer {bob}"})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_idempotency_key(gateway: Server) -> None:
    with gateway.client(gateway.key("idem")) as http:
        headers = {"Idempotency-Key": "order-7"}
        first = http.post("/v1/videos", json={"prompt": "a kite", **SMALL}, headers=headers)
        again = http.post("/v1/videos", json={"prompt": "a kite", **SMALL}, headers=headers)
        other = http.post("/v1/videos", json={"prompt": "a crane", **SMALL}, headers=headers)
    assert first.json()["id"] == again.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"


def test_rate_limit_answers_429_with_retry_after(gateway: Server) -> None:
    key = gateway.key("limited", limits=Limits(rate_limit=3, rate_period=60))
    with gateway.client(key) as http:
        codes = [http.get("/v1/videos").status_code for _ in range(4)]
        last = http.get("/v1/videos")
    assert codes == [200, 200, 200, 429]
    assert last.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(last.headers["retry-after"]) <= 60


async def test_a_burst_cannot_get_past_the_concurrency_cap(gateway: Server) -> None:
    key = gateway.key("burst", limits=Limits(max_concurrent=2))
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        answers = await asyncio.gather(
            *[
                http.post("/v1/videos", json={"prompt": f"[simulate:hang] a moth {i}", **SMALL})
                for i in range(8)
            ]
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 200] + [429] * 6
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.json()["error"]["code"] == "concurrency_limit"
        for r in answers:
            if r.status_code == 200:
                await http.post(f"/v1/videos/{r.json()['id']}/cancel")


def test_daily_quota(gateway: Server) -> None:
    key = gateway.key("daily", limits=Limits(daily_videos=1))
    with gateway.client(key) as http:
        assert http.post("/v1/videos", json={"prompt": "one", **SMALL}).status_code == 200
        second = http.post("/v1/videos", json={"prompt": "two", **SMALL})
    assert second.status_code == 429 and second.json()["error"]["code"] == "daily_quota_exceeded"


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({"prompt": "x", "colour": "red"}, 400, "unknown fields ['colour']"),
        ({"prompt": "x", "duration": 0.7}, 400, "duration 0.7 s is not offered"),
        ({"prompt": "x", "model": "nope:nothing"}, 400, "unknown provider 'nope'"),
        ({"prompt": "x", "webhook_url": "http://169.254.169.254/latest"}, 400, "non-public"),
        ({"prompt": "x", "image": "http://10.0.0.8/cat.png"}, 400, "non-public address"),
        ({"prompt": "x", "image": "/etc/passwd"}, 400, "must be an http(s) URL"),
        ({"prompt": ""}, 400, "prompt"),
        ({}, 400, "prompt is required"),
    ],
)
def test_bad_input_is_a_4xx_with_a_code(
    gateway: Server, body: dict[str, Any], code: int, needle: str
) -> None:
    with gateway.client(gateway.key("bad")) as http:
        response = http.post("/v1/videos", json=body)
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert needle in error["message"] and error["code"]


def test_oversized_bodies_and_non_json_are_refused(gateway: Server) -> None:
    with gateway.client(gateway.key("big")) as http:
        huge = http.post(
            "/v1/videos", content=b"x" * 2_100_000, headers={"content-type": "application/json"}
        )
        garbage = http.post(
            "/v1/videos", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert huge.status_code == 413
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "invalid_request"


class Receiver:
    """A real loopback HTTP receiver for client webhooks; fails the first ``fail_first``."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.deliveries.append((headers, body))
        status = 500 if len(self.deliveries) <= self.fail_first else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_client_webhooks_are_signed_retried_and_redeliverable(gateway: Server) -> None:
    receiver = Receiver(fail_first=1)
    port = free_port()
    server, thread = _serve(receiver, port)
    try:
        key = gateway.key("hooks")
        admin_key = gateway.key("ops", admin=True)
        secret = gateway.book.tenant("hooks")["webhook_secret"]
        with gateway.client(key) as http:
            job = http.post(
                "/v1/videos",
                json={"prompt": "a wren", "webhook_url": f"http://127.0.0.1:{port}/hook", **SMALL},
            ).json()
            wait_done(http, job["id"])
        events: list[str] = wait_until(
            lambda: (
                (got := [json.loads(b)["type"] for h, b in receiver.deliveries[1:]])
                and "video.completed" in got
                and got
            ),
            30,
            interval=0.05,
            what="video.completed delivered",
        )
        # The first delivery failed and was retried, so it arrives later: order is not promised
        # under retries (each payload carries its timestamp).
        assert sorted(events) == ["video.completed", "video.in_progress", "video.queued"]
        for headers, body in receiver.deliveries:
            verify(secret, headers, body)  # raises if forged
        with pytest.raises(ValueError):
            verify("whsec_" + "A" * 32, receiver.deliveries[-1][0], receiver.deliveries[-1][1])
        with gateway.client(admin_key) as ops:
            log = ops.get("/v1/admin/webhooks", params={"job_id": job["id"]}).json()["data"]
            queued = next(d for d in log if d["event"] == "video.queued")
            assert queued["attempts"] == 2 and queued["status"] == "delivered"
            before = len(receiver.deliveries)
            assert ops.post(f"/v1/admin/webhooks/{queued['id']}/redeliver").status_code == 200
            wait_until(lambda: len(receiver.deliveries) > before, 30, what="the redelivery")
            assert receiver.deliveries[-1][0]["webhook-id"] == queued["id"]
        with gateway.client(key) as http:
            assert http.get("/v1/admin/webhooks").status_code == 403
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_forged_provider_webhooks_are_rejected(
    gateway: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from vidgate.webhooks import signed_headers

    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", secret)
    body = json.dumps({"id": "evt_1", "type": "video.completed", "data": {"id": "video_x"}})
    forged = signed_headers("whsec_" + base64.b64encode(b"x" * 24).decode(), "msg_1", body.encode())
    stale = signed_headers(secret, "msg_2", body.encode(), now=time.time() - 3600)
    for headers in (forged, stale, {"content-type": "application/json"}):
        response = httpx.post(f"{gateway.url}/webhooks/openai", content=body, headers=headers)
        assert response.status_code == 401, response.text
    genuine = signed_headers(secret, "msg_3", body.encode())
    answer = httpx.post(f"{gateway.url}/webhooks/openai", content=body, headers=genuine)
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"  # no such task
    # A provider without webhooks: acknowledged and ignored; an unknown provider: 404.
    assert httpx.post(f"{gateway.url}/webhooks/simulated/x", content=b"{}").status_code == 200
    assert httpx.post(f"{gateway.url}/webhooks/nobody", content=b"{}").status_code == 404


def test_estimate_models_docs_and_metrics(
    gateway: Server, caplog: pytest.LogCaptureFixture
) -> None:
    key = gateway.key("ops-user")
    with caplog.at_level("INFO", logger="vidgate.access"), gateway.client(key) as http:
        estimate = http.post("/v1/videos/estimate", json={"prompt": "a fox", **SMALL}).json()
        models = http.get("/v1/models").json()["data"]
    assert estimate["model"] == "simulated:synth-1" and estimate["quote"]["usd"] == 0
    assert "simulated:synth-draft" in [a["model"] for a in estimate["alternatives"]]
    sora = next(m for m in models if m["id"] == "openai:sora-2")
    assert sora["lifecycle"] == "retired" and sora["retires_on"] == "2026-09-24"
    assert httpx.get(f"{gateway.url}/docs").status_code == 200
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gateway.url}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert (
        'vidgate_http_requests_total{method="POST",route="/v1/videos/estimate",status="200"}'
        in metrics
    )
    assert 'vidgate_jobs{provider="simulated",status="completed"}' in metrics
    assert "vidgate_attempt_success_ratio" in metrics
    assert 'vidgate_phase_seconds_avg{phase="generating",provider="simulated"}' in metrics
    lines = [r.getMessage() for r in caplog.records if r.name == "vidgate.access"]
    assert any('"tenant": "ops-user"' in line for line in lines)
    assert not any(key in line for line in lines), "the access log must never hold a key"


def test_the_python_client(gateway: Server, tmp_path: Path) -> None:
    from vidgate import Client
    from vidgate.exceptions import JobNotFound, UnsupportedRequest

    seen: list[tuple[str, int]] = []
    with Client(gateway.url, api_key=gateway.key("client")) as client:
        quote = client.estimate("a fox", **SMALL)
        assert quote.model == "simulated:synth-1"
        video = client.create("a fox in the client", seed=1, idempotency_key="c-1", **SMALL)
        assert (
            client.create("a fox in the client", seed=1, idempotency_key="c-1", **SMALL).id
            == video.id
        )
        done = client.wait(video.id, on_progress=lambda v: seen.append((v.status, v.progress)))
        path = client.download(done.id, tmp_path / "client.mp4")
        assert [v.id for v in client.list(page_size=1)] == [video.id]
        with pytest.raises(JobNotFound):
            client.get("job_nope")
        with pytest.raises(UnsupportedRequest, match=r"duration 0\.7 s"):
            client.create("a fox", duration=0.7)
        hung = client.create("[simulate:hang] a fox", **SMALL)
        assert client.cancel(hung.id).status == "canceled"
    assert done.status == "completed" and done.media is not None
    assert seen[-1] == ("completed", 100) and len(seen) >= 2
    assert path.read_bytes()[4:8] == b"ftyp"


async def test_the_async_client(gateway: Server, tmp_path: Path) -> None:
    from vidgate import AsyncClient
    from vidgate.exceptions import TooManyRequests

    key = gateway.key("async-client")
    async with AsyncClient(gateway.url, api_key=key) as client:
        video = await client.create("an owl", **SMALL)
        done = await client.wait(video.id, timeout=60)
        await client.download(done.id, tmp_path / "owl.jpg", variant="thumbnail")
        assert [v.id async for v in client.list()] == [video.id]
    assert done.status == "completed"
    assert (tmp_path / "owl.jpg").read_bytes()[:2] == b"\xff\xd8"
    limited = gateway.key("async-limited", limits=Limits(rate_limit=1, rate_period=60))
    async with AsyncClient(gateway.url, api_key=limited) as client:
        await client.estimate("x", **SMALL)
        with pytest.raises(TooManyRequests) as caught:
            await client.estimate("x", **SMALL)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_input_reference_upload_becomes_the_first_frame(gateway: Server, tmp_path: Path) -> None:
    import av
    import openai
    from PIL import Image

    red = tmp_path / "red.png"
    Image.new("RGB", (640, 360), (255, 0, 0)).save(red)
    sdk = openai.OpenAI(api_key=gateway.key("upload"), base_url=f"{gateway.url}/v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with red.open("rb") as image:
            created = sdk.videos.create(
                prompt="a red dawn", seconds="1", size="640x360", input_reference=image
            )
    with gateway.client(gateway.key("upload")) as http:
        done = wait_done(http, created.id)
        assert done["status"] == "completed", done["error"]
        body = http.get(f"/v1/videos/{created.id}/content").content
    out = tmp_path / "first.mp4"
    out.write_bytes(body)
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert frame[..., 0].mean() > 150 and frame[..., 1].mean() < 100
    with gateway.client(gateway.key("upload")) as http:
        wrong = http.post(
            "/v1/videos",
            data={"prompt": "x"},
            files={"input_reference": ("notes.txt", b"hello", "text/plain")},
        )
    assert wrong.status_code == 400 and "PNG, JPEG or WebP" in wrong.json()["error"]["message"]


def test_content_can_redirect_to_a_signed_url(gateway: Server) -> None:
    with gateway.client(gateway.key("redirect")) as http:
        job = http.post("/v1/videos", json={"prompt": "a swift", **SMALL}).json()
        wait_done(http, job["id"])
        gateway.settings.content_redirect = True
        try:
            moved = http.get(f"/v1/videos/{job['id']}/content", follow_redirects=False)
        finally:
            gateway.settings.content_redirect = False
    assert moved.status_code == 302
    assert "/v1/files/" in moved.headers["location"] and "sig=" in moved.headers["location"]
    assert httpx.get(moved.headers["location"]).headers["content-type"] == "video/mp4"


def test_a_tenant_default_webhook_and_prompt_limits(gateway: Server) -> None:
    receiver = Receiver()
    port = free_port()
    server, thread = _serve(receiver, port)
    try:
        key = gateway.key("defaults")
        gateway.book.ensure_tenant("defaults", webhook_url=f"http://127.0.0.1:{port}/tenant-hook")
        with gateway.client(key) as http:
            job = http.post("/v1/videos", json={"prompt": "a finch", **SMALL}).json()
            wait_done(http, job["id"])
            too_long = http.post("/v1/videos", json={"prompt": "x" * 10_001, **SMALL})
        wait_until(
            lambda: any(json.loads(b)["type"] == "video.completed" for _, b in receiver.deliveries),
            30,
            interval=0.05,
            what="video.completed delivered",
        )
        assert receiver.deliveries and all(
            json.loads(b)["data"]["id"] == job["id"] for _, b in receiver.deliveries
        )
        assert too_long.status_code == 400 and "prompt" in too_long.json()["error"]["message"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
