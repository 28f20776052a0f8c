"""The gateway under hostile input: the body limit while streaming, bounded fields, one error
body for every answer (404/405/413 included), signed links only from configuration, key
``last_used_at``, and the access log with request ids."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import free_port

LIMIT = 256 * 1024
CHUNK = 16 * 1024
SMALL = {"duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}


def _settings(home: Any, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "simulated_latency": 0.3,
        "poll_interval": 0.05,
        "queue_poll_interval": 0.1,
        "max_body_bytes": LIMIT,
        "public_url": None,
    }
    values.update(kw)
    return Settings(**values)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """An API-only gateway (jobs are queued, never run), in process."""
    return create_app(_settings(tmp_path_factory.mktemp("hardening")), worker=False)


def _key(app: FastAPI, tenant: str, **kw: Any) -> str:
    secret = app.state.gateway.tenants.create_key(tenant, **kw).secret
    assert secret is not None
    return str(secret)


def _client(app: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 4711)),
        base_url="http://gateway.test",
        headers=headers,
        timeout=30,
    )


class Body:
    """A chunked request body that counts what the server pulled from it."""

    def __init__(self, total: int, chunk: int = CHUNK, prefix: bytes = b"") -> None:
        self.total, self.chunk, self.pulled, self.prefix = total, chunk, 0, prefix

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.prefix:
            self.pulled += len(self.prefix)
            yield self.prefix
        while self.pulled < self.total:
            self.pulled += self.chunk
            yield b"x" * self.chunk


def _form(fields: dict[str, Any]) -> dict[str, Any]:
    """Multipart form fields (no file), JSON-encoding objects and lists as the SDKs do."""
    return {
        k: (None, json.dumps(v) if isinstance(v, dict | list) else str(v))
        for k, v in fields.items()
    }


# -- the body limit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "authenticated"),
    [
        ("/webhooks/luma/x", "application/json", False),
        ("/webhooks/replicate", "application/json", False),
        ("/v1/videos", "application/json", True),
        ("/v1/videos", "multipart/form-data; boundary=zzz", True),
        ("/v1/videos/estimate", "application/json", True),
    ],
)
async def test_a_chunked_body_is_cut_off_at_the_limit(
    api: FastAPI, path: str, content_type: str, authenticated: bool
) -> None:
    prefix = b""
    if content_type.startswith("multipart/"):  # a well-formed part whose value never ends
        prefix = b'--zzz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
    body = Body(total=50 * 1024 * 1024, prefix=prefix)
    key = _key(api, "chunked") if authenticated else None
    async with _client(api, key) as http:
        response = await http.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert error["details"] == {"limit": LIMIT}, "the same error shape as every other error"
    assert response.headers["x-request-id"]
    # The server stopped pulling as soon as the limit was passed: not one chunk more.
    assert body.pulled <= LIMIT + CHUNK


async def test_a_declared_length_over_the_limit_is_refused_unread(api: FastAPI) -> None:
    body = Body(total=LIMIT * 4)
    async with _client(api) as http:
        response = await http.post(
            "/webhooks/luma/x", content=body, headers={"content-length": str(LIMIT * 4)}
        )
    assert response.status_code == 413 and body.pulled == 0


async def test_a_body_under_the_limit_still_works(api: FastAPI) -> None:
    async with _client(api, _key(api, "under")) as http:
        created = await http.post("/v1/videos", json={"prompt": "a small fox", **SMALL})
    assert created.status_code == 200, created.text


def test_over_real_http_a_huge_chunked_webhook_is_refused_early(tmp_path: Any) -> None:
    app = create_app(_settings(tmp_path / "home"), worker=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    total = 300 * 1024 * 1024
    pulled = 0

    def body() -> Iterator[bytes]:
        nonlocal pulled
        chunk = b"x" * (64 * 1024)
        while pulled < total:
            pulled += len(chunk)
            yield chunk

    try:
        response = httpx.post(f"http://127.0.0.1:{port}/webhooks/luma/x", content=body())
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert pulled < total // 10, f"the client got to send {pulled} bytes"


# -- bounded fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "at most 16"),
        ({"metadata": {"k" * 65: "v"}}, "metadata key is longer than 64"),
        ({"metadata": {"k": "v" * 513}}, "metadata value is longer than 512"),
        ({"metadata": {"k": {"deep": "x"}}}, "metadata values must be strings"),
        ({"metadata": ["a"]}, "metadata must be an object"),
        ({"image": "https://example.com/" + "a" * 3000}, "image is longer than 2048"),
        ({"model": "m" * 200}, "model is longer than 128"),
        ({"providers": ["simulated"] * 17}, "at most 16"),
        ({"prompt": "x" * 10_001}, "prompt"),
        ({"negative_prompt": "x" * 10_001}, "negative_prompt"),
    ],
)
async def test_stored_fields_are_bounded(api: FastAPI, fields: dict[str, Any], needle: str) -> None:
    body = {"prompt": "a fox", **SMALL, **fields}
    async with _client(api, _key(api, "bounds")) as http:
        response = await http.post("/v1/videos", json=body)
        as_form = await http.post("/v1/videos", files=_form(body))
    for answer in (response, as_form):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_request" and needle in error["message"]


async def test_metadata_at_the_limits_is_accepted(api: FastAPI) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    async with _client(api, _key(api, "bounds-ok")) as http:
        response = await http.post("/v1/videos", json={"prompt": "a fox", "metadata": metadata})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == metadata


def test_key_names_are_bounded(api: FastAPI) -> None:
    from vidgate.exceptions import InvalidRequest

    book: TenantBook = api.state.gateway.tenants
    with pytest.raises(InvalidRequest, match="key names"):
        book.create_key("named", name="n" * 129)
    with pytest.raises(InvalidRequest, match="key names"):
        book.create_key("named", name="line\nbreak")
    assert book.create_key("named", name="n" * 128).name == "n" * 128


# -- what fuzzing found: bad input is a 4xx ------------------------------------------------


async def test_inputs_that_were_500s_are_4xx(api: FastAPI) -> None:
    key, admin = _key(api, "fuzzed"), _key(api, "fuzz-ops", admin=True)
    async with _client(api, key) as http:
        job = (await http.post("/v1/videos", json={"prompt": "a fox", **SMALL})).json()
        signed = f"/v1/files/{job['id']}/video"
        non_ascii = await http.get(signed, params={"expires": 1, "sig": "é"})
        answers = {
            "non-ascii sig": (non_ascii, 403, "forbidden"),
            "latin-1 create": (
                await http.post(
                    "/v1/videos",
                    content='{"prompt": "caf\u00e9"}'.encode("latin-1"),
                    headers={"content-type": "application/json"},
                ),
                400,
                "invalid_request",
            ),
            "latin-1 estimate": (
                await http.post(
                    "/v1/videos/estimate",
                    content=b'{"prompt": "\xff\xfe"}',
                    headers={"content-type": "application/json"},
                ),
                400,
                "invalid_request",
            ),
            "nested create": (
                await http.post("/v1/videos", content=b'{"prompt": ' + b"[" * 100_000),
                400,
                "invalid_request",
            ),
            "nested estimate": (
                await http.post("/v1/videos/estimate", content=b"[" * 100_000 + b"]" * 100_000),
                400,
                "invalid_request",
            ),
            "nested form metadata": (
                await http.post(
                    "/v1/videos", files=_form({"prompt": "a fox", "metadata": "[" * 100_000})
                ),
                400,
                "invalid_request",
            ),
        }
    async with _client(api, admin) as ops:
        answers["redeliver unknown"] = (
            await ops.post("/v1/admin/webhooks/msg_nope/redeliver"),
            404,
            "not_found",
        )
    for name, (response, status, code) in answers.items():
        assert response.status_code == status, (name, response.text)
        assert response.json()["error"]["code"] == code, name


# -- one error body ------------------------------------------------------------------------


async def test_every_error_has_the_error_body(api: FastAPI) -> None:
    key = _key(api, "errors")
    async with _client(api, key) as http:
        job = (await http.post("/v1/videos", json={"prompt": "a queued fox", **SMALL})).json()
        early = await http.get(f"/v1/videos/{job['id']}/content")
        thumb = await http.get(f"/v1/videos/{job['id']}/content", params={"variant": "thumbnail"})
        unknown = await http.get("/v1/nothing-here")
        wrong = await http.put("/v1/videos")
        bad_query = await http.get("/v1/videos", params={"limit": "many"})
        unknown_provider = await http.post("/webhooks/nobody", content=b"{}")
    assert early.status_code == 409
    error = early.json()["error"]
    assert error["code"] == "content_not_ready"
    assert error["message"] == (
        f"video {job['id']} has no video yet (status queued); "
        "download it once the status is 'completed'"
    )
    assert thumb.status_code == 409 and "has no thumbnail yet" in thumb.json()["error"]["message"]
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
    assert bad_query.status_code == 400 and bad_query.json()["error"]["code"] == "invalid_request"
    assert unknown_provider.status_code == 404
    for response in (early, unknown, wrong, bad_query, unknown_provider):
        assert "detail" not in response.json()
        assert set(response.json()["error"]) >= {"code", "message"}
        assert response.headers["content-type"] == "application/json"


# -- signed links --------------------------------------------------------------------------


async def test_signed_links_come_from_configuration_never_from_host(tmp_path: Any) -> None:
    app = create_app(_settings(tmp_path / "home"))
    gw = app.state.gateway
    forged = {"Host": "evil.example"}
    async with app.router.lifespan_context(app), _client(app, _key(app, "links")) as http:
        job = (await http.post("/v1/videos", json={"prompt": "a linked fox", **SMALL})).json()
        async for snapshot in gw.engine.watch(job["id"], interval=0.05):
            if snapshot.done:
                break
        unsigned = await http.get(f"/v1/videos/{job['id']}", headers=forged)
        gw.settings.content_redirect = True
        served = await http.get(f"/v1/videos/{job['id']}/content", headers=forged)
        gw.settings.public_url = "https://videos.example.com/"
        signed = await http.get(f"/v1/videos/{job['id']}", headers=forged)
        moved = await http.get(f"/v1/videos/{job['id']}/content", headers=forged)
        link = signed.json()["urls"]["video"]
        fetched = await http.get(link.removeprefix("https://videos.example.com"), headers=forged)
    assert unsigned.json()["status"] == "completed"
    assert unsigned.json()["urls"] == {}, "no public URL configured: no links"
    assert "evil" not in unsigned.text
    assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"
    assert link.startswith(f"https://videos.example.com/v1/files/{job['id']}/video?expires=")
    assert "evil" not in signed.text
    assert moved.status_code == 302 and moved.headers["location"].startswith(
        "https://videos.example.com/v1/files/"
    )
    assert fetched.status_code == 200 and fetched.content == served.content


# -- keys' last_used_at --------------------------------------------------------------------


async def test_last_used_at_is_written_at_most_once_a_minute(api: FastAPI) -> None:
    book: TenantBook = api.state.gateway.tenants
    key = _key(api, "used")
    key_id = key.split("_")[1]

    def used() -> Any:
        return next(k for k in book.list_keys("used") if k.id == key_id).last_used_at

    assert used() is None
    async with _client(api, key) as http:
        assert (await http.get("/v1/videos")).status_code == 200
        first = used()
        for _ in range(5):
            assert (await http.get("/v1/videos")).status_code == 200
    assert first is not None and used() == first, "one write, not one per request"
    eager = TenantBook(book.engine, touch_seconds=0)
    eager.verify(key)
    assert used() > first


# -- the access log ------------------------------------------------------------------------


async def test_the_access_log_and_request_ids(
    api: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    key = _key(api, "logged")
    with caplog.at_level(logging.INFO, logger="vidgate.access"):
        async with _client(api, key) as http:
            mine = await http.get("/v1/videos", headers={"X-Request-Id": "order-7.a:b"})
            hostile = await http.get("/v1/videos", headers={"X-Request-Id": "x" * 65})
            odd = await http.get("/v1/videos", headers={"X-Request-Id": 'a b"c'})
            secret = await http.get("/v1/files/job_x/video", params={"expires": 9, "sig": "s3cr3t"})
    assert mine.headers["x-request-id"] == "order-7.a:b"
    for response in (hostile, odd, secret):
        assert response.headers["x-request-id"].startswith("req_")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "vidgate.access"]
    assert len(lines) == 4
    first = lines[0]
    assert first["request_id"] == "order-7.a:b" and first["client"] == "203.0.113.9"
    assert first["method"] == "GET" and first["path"] == "/v1/videos" and first["status"] == 200
    assert first["tenant"] == "logged" and first["latency_ms"] >= 0
    assert first["ts"].endswith("+00:00") and first["ts"][:4].isdigit()
    assert [line["request_id"] for line in lines[1:]] == [
        r.headers["x-request-id"] for r in (hostile, odd, secret)
    ]
    assert lines[3]["path"] == "/v1/files/job_x/video" and lines[3]["status"] == 403
    assert not any("s3cr3t" in r.getMessage() or key in r.getMessage() for r in caplog.records)


async def test_an_unexpected_failure_is_a_500_with_the_error_body_and_no_details(
    tmp_path: Any,
) -> None:
    app = create_app(_settings(tmp_path / "home"), worker=False)

    async def broken() -> None:
        raise RuntimeError("secret internals /srv/vidgate")

    app.add_api_route("/v1/broken", broken)  # a bug, planted for this test only
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        response = await http.get("/v1/broken", headers={"X-Request-Id": "trace-1"})
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "internal error (request id trace-1)",
        "type": "internal_error",
        "param": None,
        "details": {},
    }
    assert response.headers["x-request-id"] == "trace-1"
    assert "secret" not in response.text
