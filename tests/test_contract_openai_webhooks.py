"""OpenAI Sora: webhooks signed as Standard Webhooks, delivered by the simulator and verified by
the adapter and the official SDK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from tests.support import Delivery, Recorder, recording, wait_until
from tests.support_openai import KEY, base_of, submission
from vidgate.exceptions import ProviderAuthError
from vidgate.providers import openai as openai_adapter
from vidgate.providers.base import TaskState
from vidgate.providers.openai import OpenAIProvider
from vidgate.settings import Settings
from vidgate.simulator import openai as openai_sim
from vidgate.simulator.server import simulator_in_thread
from vidgate.simulator.state import SimulatorConfig

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"vidgate-contract-test-secret-32b").decode()


# -- webhooks -------------------------------------------------------------------------------------


def resign(delivery: Delivery, timestamp: int) -> dict[str, str]:
    """A delivery's headers, correctly signed again at another time (as a replay would be)."""
    headers = dict(delivery.headers)
    signed = f"{headers['webhook-id']}.{timestamp}.".encode() + delivery.body
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers.update({"webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{digest}"})
    return headers


def test_webhook_signatures_follow_standard_webhooks() -> None:
    # The Standard Webhooks example vector (providers research, replicate-fal-veo.md 1.9).
    secret, msg, ts = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
    )
    body = b'{"test": 2432232314}'
    expected = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert openai_sim.sign_webhook(secret, msg, ts, body) == f"v1,{expected}"
    assert openai_adapter._webhook_signature(secret, msg, str(ts), body) == expected


async def test_webhooks_are_signed_delivered_and_verified(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import openai

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", WEBHOOK_SECRET)
    with recording(Recorder()) as hooks:
        config = SimulatorConfig(
            latency=0.3,
            media_dir=tmp_path / "media",
            openai_webhook_url=f"{hooks.url}/hooks/openai",
            openai_webhook_secret=WEBHOOK_SECRET,
        )
        with simulator_in_thread(config) as sim:
            monkeypatch.setenv("VIDGATE_OPENAI_BASE_URL", base_of(sim))
            adapter = OpenAIProvider(settings)
            try:
                ok = (await adapter.submit(submission("a calm boat"))).remote_id
                failed = (await adapter.submit(submission("[sim:fail] a boat"))).remote_id
                forged = (await adapter.submit(submission("[sim:webhook-forged] a boat"))).remote_id
                twice = (
                    await adapter.submit(submission("[sim:webhook-duplicate] a boat"))
                ).remote_id
                dropped = (await adapter.submit(submission("[sim:webhook-drop] a boat"))).remote_id
                wait_until(
                    lambda: (
                        len(sim.state.webhooks) == 5
                        and all(r["status"] is not None for r in sim.state.webhooks)
                    ),
                    what="five deliveries settled",
                )
                records = list(sim.state.webhooks)
            finally:
                await adapter.aclose()

    assert sorted(str(r["status"]) for r in records if r["kind"] == "openai") == [
        "200",
        "200",
        "200",
        "200",
        "dropped",
    ]
    by_video: dict[str, list[Delivery]] = {}
    for delivery in hooks.requests:
        assert delivery.path == "/hooks/openai"
        by_video.setdefault(json.loads(delivery.body)["data"]["id"], []).append(delivery)
    assert dropped not in by_video and len(by_video[twice]) == 2
    assert by_video[twice][0].headers["webhook-id"] == by_video[twice][1].headers["webhook-id"]

    # Genuine deliveries verify, with the official SDK's verifier too.
    client = openai.OpenAI(api_key="k", webhook_secret=WEBHOOK_SECRET)
    [completed] = by_video[ok]
    client.webhooks.verify_signature(completed.body, completed.headers)
    event = json.loads(completed.body)
    assert event["type"] == "video.completed" and event["object"] == "event"
    assert event["data"] == {"id": ok}, "the payload names only the video"
    parsed = adapter.parse_webhook(completed.headers, completed.body)
    assert parsed.remote_id == ok and parsed.status.state is TaskState.SUCCEEDED
    assert parsed.status.outputs[0].url.endswith(f"/videos/{ok}/content")
    [failure] = by_video[failed]
    parsed = adapter.parse_webhook(failure.headers, failure.body)
    assert parsed.remote_id == failed and parsed.status.state is TaskState.FAILED
    assert parsed.status.raw_status == "video.failed"

    # Forged, stale, early, unsigned and unverifiable deliveries are refused.
    [fake] = by_video[forged]
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(fake.body, fake.headers)
    with pytest.raises(ProviderAuthError, match="does not match"):
        adapter.parse_webhook(fake.headers, fake.body)
    now = int(time.time())
    with pytest.raises(ProviderAuthError, match="300 s"):
        adapter.parse_webhook(resign(completed, now - 301), completed.body)
    with pytest.raises(ProviderAuthError, match="300 s"):
        adapter.parse_webhook(resign(completed, now + 301), completed.body)
    assert adapter.parse_webhook(resign(completed, now - 200), completed.body).remote_id == ok
    tampered = completed.body.replace(ok.encode(), failed.encode())
    with pytest.raises(ProviderAuthError, match="does not match"):
        adapter.parse_webhook(completed.headers, tampered)
    unsigned = {k: v for k, v in completed.headers.items() if k != "webhook-signature"}
    with pytest.raises(ProviderAuthError, match="without"):
        adapter.parse_webhook(unsigned, completed.body)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(ProviderAuthError, match="does not match"):
        adapter.parse_webhook(completed.headers, completed.body)
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    with pytest.raises(ProviderAuthError, match="OPENAI_WEBHOOK_SECRET"):
        adapter.parse_webhook(completed.headers, completed.body)
