from __future__ import annotations

import httpx
import pytest

from vidgate import requestlog
from vidgate.providers._http import make_client


def test_urls_lose_credentials_and_signatures() -> None:
    url = "https://user:secret@cdn.example.com:8443/out/v.mp4?X-Amz-Signature=abc&token=t"
    assert requestlog.redact_url(url) == "https://cdn.example.com:8443/out/v.mp4"


async def test_every_http_call_is_recorded_against_the_bound_job() -> None:
    records: list[requestlog.CallRecord] = []
    requestlog.set_sink(records.append)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/boom":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, headers={"x-request-id": "req_42"}, json={"id": "t1"})

    client = make_client(
        "acme", base_url="https://api.acme.test", transport=httpx.MockTransport(handler)
    )
    try:
        with requestlog.bind("job_1", "job_1-1"):
            await client.post("/v1/tasks?key=secret", json={})
            with pytest.raises(httpx.ConnectError):
                await client.get("/boom")
        await client.get("/unbound")
    finally:
        await client.aclose()
        requestlog.set_sink(None)
    ok, failed, unbound = records
    assert (ok.job_id, ok.attempt_id, ok.provider) == ("job_1", "job_1-1", "acme")
    assert (ok.method, ok.url, ok.status_code) == ("POST", "https://api.acme.test/v1/tasks", 201)
    assert ok.request_id == "req_42" and ok.latency_ms >= 0
    assert failed.status_code is None and failed.error is not None and "refused" in failed.error
    assert unbound.job_id is None
