"""fal: signed webhooks, from the simulator to a loopback receiver verifying them.

The receiver checks each delivery with the adapter's ``parse_webhook`` (fal's ED25519 signature
against its JWKS) and answers 200 or 401 as the gateway does: genuine, failed, forged, stale,
unsigned, tampered and foreign deliveries, and the JWKS cache.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import vidgate.providers.fal as fal_module
from tests import support_fal
from tests.support import Delivery, Recorder, wait_until
from tests.support_fal import api, sim_task, submission
from vidgate.exceptions import ContentRejected, ProviderAuthError, ProviderError
from vidgate.providers.base import TaskState, WebhookEvent
from vidgate.providers.fal import FalProvider
from vidgate.settings import Settings
from vidgate.simulator.fal import signing_key, webhook_headers
from vidgate.simulator.server import RunningSimulator, free_port

#: The fixtures this file shares with the other fal contract files (pytest finds a
#: fixture by its name in the test's module).
fresh_jwks_cache = support_fal.fresh_jwks_cache
fal_env = support_fal.fal_env
fal = support_fal.fal


# -- webhooks ----------------------------------------------------------------------------------


@dataclass
class Verified:
    """A delivery, with what the adapter made of it."""

    token: str
    headers: dict[str, str]
    body: bytes
    event: WebhookEvent | None = None
    rejected: ProviderError | None = None


@dataclass
class Receiver(Recorder):
    """The loopback recorder, verifying each delivery with ``verify`` (the adapter's
    ``parse_webhook``) and answering 200 or 401 as the gateway does."""

    verify: Callable[..., WebhookEvent] | None = None
    deliveries: list[Verified] = field(default_factory=list)

    def answer(self, request: Delivery) -> tuple[int, dict[str, str], bytes]:
        assert self.verify is not None
        token = request.path.removeprefix("/webhooks/fal").strip("/")
        delivery = Verified(token, request.headers, request.body)
        try:
            delivery.event = self.verify(request.headers, request.body, url_token=token or None)
            status = 200
        except ProviderError as exc:
            delivery.rejected, status = exc, 401
        self.deliveries.append(delivery)
        return status, {}, b""

    async def verified(self, count: int) -> list[Verified]:
        await self.delivered(count)
        return list(self.deliveries)

    def post(self, body: bytes, headers: dict[str, str], token: str = "fal-ai~bytedance") -> int:
        answer = httpx.post(f"{self.url}/webhooks/fal/{token}", content=body, headers=headers)
        return answer.status_code


@pytest.fixture
def receiver(
    fal_env: RunningSimulator, settings: Settings, recorders: Callable[..., Recorder]
) -> Recorder:
    return recorders(Receiver(verify=FalProvider(settings).parse_webhook))


def signed(
    simulator: RunningSimulator,
    payload: dict[str, Any],
    *,
    at: float | None = None,
    key: Ed25519PrivateKey | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A delivery signed as fal signs it (by default with the simulator's own key)."""
    body = json.dumps(payload).encode()
    stamp = int(time.time() if at is None else at)
    key = key or signing_key(simulator.app_state)
    return body, webhook_headers(key, payload["request_id"], "user-1", stamp, body)


async def test_a_genuine_webhook_is_accepted_and_names_the_request(
    fal: FalProvider, fal_env: RunningSimulator, receiver: Recorder
) -> None:
    created = await fal.submit(
        submission(reference="job_w-1", callback_url=receiver.url + "/webhooks/fal")
    )
    task = sim_task(fal_env, created.remote_id)
    assert task.extra["webhook"] == receiver.url + "/webhooks/fal/fal-ai~bytedance"
    [delivery] = await receiver.verified(1)
    assert delivery.rejected is None and delivery.event is not None
    assert delivery.event.remote_id == created.remote_id
    status = delivery.event.status
    assert status.state is TaskState.SUCCEEDED
    assert status.outputs[0].url.startswith(fal_env.url + "/_simulator/files/")
    payload = json.loads(delivery.body)
    assert payload["status"] == "OK" and payload["request_id"] == task.id
    assert delivery.headers["x-fal-webhook-request-id"] == task.id
    assert len(bytes.fromhex(delivery.headers["x-fal-webhook-signature"])) == 64
    # What the webhook says agrees with a poll.
    assert (await fal.poll(created.remote_id)).state is TaskState.SUCCEEDED


async def test_a_failure_webhook_is_classified_like_a_poll(
    fal: FalProvider, receiver: Recorder
) -> None:
    created = await fal.submit(
        submission("[sim:moderation] a fox", callback_url=receiver.url + "/webhooks/fal")
    )
    [delivery] = await receiver.verified(1)
    assert delivery.event is not None and delivery.event.remote_id == created.remote_id
    assert json.loads(delivery.body)["error"] == "Invalid status code: 422"
    status = delivery.event.status
    assert status.state is TaskState.FAILED and status.error is not None
    polled = (await fal.poll(created.remote_id)).error
    assert polled is not None
    assert status.error["code"] == polled["code"] == ContentRejected.code
    assert status.error["details"]["stage"] == "input"
    assert status.error["details"]["status_code"] == 422


async def test_a_forged_webhook_is_rejected(
    fal: FalProvider, fal_env: RunningSimulator, receiver: Recorder
) -> None:
    await fal.submit(
        submission("[sim:webhook-forged] a fox", callback_url=receiver.url + "/webhooks/fal")
    )
    deliveries = await receiver.verified(1)
    assert deliveries and all(d.event is None for d in deliveries)
    rejected = deliveries[0].rejected
    assert isinstance(rejected, ProviderAuthError) and "signature" in rejected.message
    wait_until(
        lambda: fal_env.state.webhooks and fal_env.state.webhooks[0]["status"] == 401,
        what="the simulator seeing the 401",
    )


def test_stale_unsigned_tampered_and_foreign_deliveries_are_rejected(
    fal_env: RunningSimulator, receiver: Recorder
) -> None:
    payload = {
        "request_id": "req-1",
        "gateway_request_id": "req-1",
        "status": "OK",
        "payload": {"video": {"url": "https://v3.fal.media/files/x/output.mp4"}},
    }
    # The simulator's key, signed now: accepted (so what follows fails for its own reason).
    body, good = signed(fal_env, payload)
    assert receiver.post(body, good) == 200
    event = receiver.deliveries[-1].event
    assert event is not None and event.remote_id == "fal-ai/bytedance|req-1"
    # Within the tolerance on the other side of now, too.
    assert receiver.post(*signed(fal_env, payload, at=time.time() + 200)) == 200
    # Stale: more than 300 s old.
    assert receiver.post(*signed(fal_env, payload, at=time.time() - 301)) == 401
    assert "stale" in str(receiver.deliveries[-1].rejected)
    # Unsigned.
    assert receiver.post(body, {"content-type": "application/json"}) == 401
    assert "unsigned" in str(receiver.deliveries[-1].rejected)
    # Genuine headers, altered body.
    assert receiver.post(body.replace(b"output.mp4", b"evil.mp4"), good) == 401
    # Signed by a key that is not in fal's JWKS.
    assert receiver.post(*signed(fal_env, payload, key=Ed25519PrivateKey.generate())) == 401
    assert "signature" in str(receiver.deliveries[-1].rejected)
    # Genuine, but delivered without the app token the adapter adds to its callback URL.
    assert receiver.post(body, good, token="") == 401
    assert "app token" in str(receiver.deliveries[-1].rejected)


def test_jwks_keys_are_cached_and_read_again_for_a_new_key(
    fal_env: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    fetched: list[str] = []
    real_get = httpx.get

    def counting_get(url: str, **kw: Any) -> httpx.Response:
        fetched.append(url)
        return real_get(url, **kw)

    monkeypatch.setattr(httpx, "get", counting_get)  # the adapter calls httpx.get
    provider = FalProvider(settings)
    payload = {"request_id": "req-2", "status": "OK", "payload": {"video": {"url": "https://x"}}}
    for _ in range(3):
        body, sent = signed(fal_env, payload)
        provider.parse_webhook(sent, body, url_token="fal-ai~bytedance")
    assert fetched == [api(fal_env) + "/.well-known/jwks.json"]  # once, then from the cache
    # fal rotates keys: the simulator starts signing with a new one.
    keys = fal_env.app_state.fal_webhook_keys  # type: ignore[attr-defined]
    keys.append(Ed25519PrivateKey.generate())
    body, sent = signed(fal_env, payload)
    with pytest.raises(ProviderAuthError):  # the cache is too fresh to read again at once
        provider.parse_webhook(sent, body, url_token="fal-ai~bytedance")
    url = provider.jwks_url()
    stamp, cached = fal_module._jwks_cache[url]
    fal_module._jwks_cache[url] = (stamp - fal_module.JWKS_REFETCH_AFTER - 1, cached)
    event = provider.parse_webhook(sent, body, url_token="fal-ai~bytedance")
    assert event.remote_id == "fal-ai/bytedance|req-2" and len(fetched) == 2


def test_an_unreachable_jwks_makes_a_webhook_unverifiable(
    fal_env: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_FAL_JWKS_URL", f"http://127.0.0.1:{free_port()}/jwks.json")
    body, sent = signed(fal_env, {"request_id": "r", "status": "OK"})
    with pytest.raises(ProviderAuthError, match="cannot verify"):
        FalProvider(settings).parse_webhook(sent, body, url_token="fal-ai~bytedance")
