"""Replicate: signed webhooks, from the simulator to a loopback receiver.

Deliveries are verified with the adapter's ``parse_webhook`` (the Standard Webhooks signature,
the secret fetched from the API or configured): forged, stale, unsigned and tampered ones are
rejected, and the twin sends every event without a filter.
"""

from __future__ import annotations

import base64
import json
import os
import time

import httpx
import pytest
import replicate

from tests import support_replicate
from tests.support import Delivery, Recorder, wait_until
from tests.support_replicate import api, auth, submission
from vidgate.exceptions import ProviderAuthError
from vidgate.providers.base import TaskState
from vidgate.providers.replicate import ReplicateProvider
from vidgate.settings import Settings
from vidgate.simulator import replicate as twin
from vidgate.simulator.server import RunningSimulator
from vidgate.webhooks import sign

#: The fixtures this file shares with the other Replicate contract files (pytest finds a
#: fixture by its name in the test's module).
provider = support_replicate.provider


# -- webhooks ----------------------------------------------------------------------------------


def statuses(deliveries: list[Delivery]) -> list[str]:
    return [json.loads(d.body)["status"] for d in deliveries]


async def test_webhooks_are_verified_and_forged_stale_or_unsigned_ones_rejected(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    receiver: Recorder,
    settings: Settings,
) -> None:
    sub = submission().model_copy(update={"callback_url": receiver.url + "/hooks/a"})
    created = await provider.submit(sub)
    task = simulator.state.tasks[created.remote_id]
    assert task.extra["webhook"] == receiver.url + "/hooks/a"
    assert task.extra["webhook_events"] == ["start", "completed"]
    await receiver.delivered(2, path="/hooks/a")
    start, completed = receiver.to("/hooks/a")
    assert statuses([start, completed]) == ["starting", "succeeded"]
    # Genuine: verified with the secret the adapter fetched from /v1/webhooks/default/secret.
    event = provider.parse_webhook(completed.headers, completed.body)
    assert event.remote_id == created.remote_id
    assert event.status.state is TaskState.SUCCEEDED and event.status.outputs
    assert provider.parse_webhook(start.headers, start.body).status.state is TaskState.QUEUED
    assert start.headers["webhook-id"] != completed.headers["webhook-id"]
    # A fresh process that never submitted fetches the secret when the first webhook arrives.
    fresh = ReplicateProvider(settings)
    assert fresh.parse_webhook(completed.headers, completed.body).remote_id == created.remote_id
    secret = twin.webhook_secret(simulator.state)
    assert provider._secret == secret
    # Stale or from the future (more than 300 s), re-signed correctly: rejected.
    for skew in (-400, 400):
        stamp = int(time.time()) + skew
        old = {
            "webhook-id": "msg_replayed",
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, "msg_replayed", stamp, completed.body),
        }
        with pytest.raises(ProviderAuthError, match="tolerance"):
            provider.parse_webhook(old, completed.body)
    # Unsigned, or the body changed after signing: rejected.
    bare = {"content-type": "application/json"}
    with pytest.raises(ProviderAuthError, match="missing"):
        provider.parse_webhook(bare, completed.body)
    tampered = completed.body.replace(b"succeeded", b"failed!!!")
    with pytest.raises(ProviderAuthError, match="does not match"):
        provider.parse_webhook(completed.headers, tampered)
    # Forged by the simulator (webhook-forged): the signature does not verify.
    forged_sub = submission("[sim:webhook-forged] a fox").model_copy(
        update={"callback_url": receiver.url + "/hooks/forged"}
    )
    await provider.submit(forged_sub)
    await receiver.delivered(2, path="/hooks/forged")
    for forged in receiver.to("/hooks/forged"):
        with pytest.raises(ProviderAuthError, match="does not match"):
            provider.parse_webhook(forged.headers, forged.body)
    # The official client's own check agrees with ours.
    client = replicate.Client(api_token="r8_x", base_url=api(simulator))
    official = client.webhooks.default.secret()
    assert official.key == secret
    client.webhooks.validate(
        headers=completed.headers,
        body=completed.body.decode(),
        secret=official,
        tolerance=300,
    )


async def test_a_configured_secret_wins_and_a_wrong_one_rejects(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    receiver: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", twin.webhook_secret(simulator.state))
    sub = submission().model_copy(update={"callback_url": receiver.url + "/hooks/b"})
    await provider.submit(sub)
    await receiver.delivered(2, path="/hooks/b")
    hook = receiver.to("/hooks/b")[-1]
    assert provider.parse_webhook(hook.headers, hook.body).status.state is TaskState.SUCCEEDED
    assert provider._secret is None  # never fetched
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", other)
    with pytest.raises(ProviderAuthError, match="does not match"):
        provider.parse_webhook(hook.headers, hook.body)
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", "whsec_not base64!")
    with pytest.raises(ProviderAuthError, match="not a whsec_"):
        provider.parse_webhook(hook.headers, hook.body)


def test_the_twin_sends_every_event_without_a_filter_and_duplicates_keep_their_id(
    simulator: RunningSimulator, receiver: Recorder
) -> None:
    url = api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
    body = {
        "input": {"prompt": "[sim:slow] x", "duration": 2, "resolution": "480p"},
        "webhook": receiver.url + "/all",
    }
    httpx.post(url, json=body, headers=auth()).raise_for_status()
    wait_until(lambda: "succeeded" in statuses(receiver.to("/all")), what="the last event")
    seen = statuses(receiver.to("/all"))
    assert seen[0] == "starting" and seen[-1] == "succeeded"
    assert "processing" in seen  # logs and output events
    bodies = [json.loads(d.body) for d in receiver.to("/all")]
    assert any(b["status"] == "processing" and b["output"] for b in bodies)  # the output event
    # logs events are throttled to one per 500 ms
    logs_events = [b for b in bodies if b["status"] == "processing" and not b["output"]]
    assert 2 <= len(logs_events) <= 6
    body["webhook"] = receiver.url + "/dup"
    body["webhook_events_filter"] = ["completed"]
    body["input"]["prompt"] = "[sim:webhook-duplicate] x"
    httpx.post(url, json=body, headers=auth()).raise_for_status()
    first, second = receiver.wait_for(2, path="/dup")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert statuses([first, second]) == ["succeeded", "succeeded"]
