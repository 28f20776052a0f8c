"""The simulator follows tasks on the loop's timer: a twin's webhook goes out when the task's
timeline says so, with nobody polling the task and no coroutine per task waiting meanwhile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.support import Recorder
from vidgate.simulator.app import create_app
from vidgate.simulator.state import SimState, SimulatorConfig


@pytest.fixture
async def twin(tmp_path: Path) -> AsyncIterator[tuple[SimState, httpx.AsyncClient]]:
    """The simulator app on this test's own event loop (its timers run here), through the
    ASGI transport; webhooks go out over real loopback HTTP."""
    app = create_app(
        SimulatorConfig(latency=0.3, media_dir=tmp_path / "media", generic_renders=True)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield app.state.sim, client


def _coroutines() -> int:
    return len(asyncio.all_tasks())


def _reads(sim: SimState) -> int:
    """Requests the simulator answered other than creates (its stats count them by route)."""
    return sum(count for name, count in sim.requests.items() if "GET" in name.upper())


async def test_a_luma_callback_arrives_on_the_timer_without_polling(
    twin: tuple[SimState, httpx.AsyncClient], recorders: Callable[..., Recorder]
) -> None:
    sim, client = twin
    receiver = recorders()
    before = _coroutines()
    created = await client.post(
        "/luma/dream-machine/v1/generations/video",
        headers={"Authorization": "Bearer luma-test"},
        json={
            "model": "ray-2",
            "prompt": "a lighthouse at dusk",
            "callback_url": f"{receiver.url}/hooks/luma",
        },
    )
    assert created.status_code == 201, created.text
    # Followed by one timer entry, not a task of its own.
    assert sim.stats()["watching"] == 1
    assert _coroutines() == before
    deliveries = await receiver.delivered(2, path="/hooks/luma")
    states = [json.loads(d.body)["state"] for d in deliveries]
    assert states == ["dreaming", "completed"]
    assert json.loads(deliveries[-1].body)["assets"]["video"]
    assert sim.stats()["watching"] == 0
    assert _reads(sim) == 0


async def test_a_fal_webhook_arrives_on_the_timer_and_at_once_on_a_cancel(
    twin: tuple[SimState, httpx.AsyncClient], recorders: Callable[..., Recorder]
) -> None:
    sim, client = twin
    receiver = recorders()
    key = {"Authorization": "Key kid:secret"}
    endpoint = "/fal/fal-ai/minimax/hailuo-02/standard/text-to-video"

    async def submit(**headers: str) -> str:
        answer = await client.post(
            endpoint,
            params={"fal_webhook": f"{receiver.url}/hooks/fal"},
            headers={**key, **headers},
            json={"prompt": "a lighthouse at dusk"},
        )
        assert answer.status_code == 200, answer.text
        request_id: str = answer.json()["request_id"]
        return request_id

    done = await submit()
    (delivery,) = await receiver.delivered(1, path="/hooks/fal")
    assert json.loads(delivery.body)["request_id"] == done
    assert json.loads(delivery.body)["status"] == "OK"

    # A request that never finishes is still followed (by a timer at its give-up moment),
    # and a cancel delivers its webhook at once.
    hung = await submit(**{"x-simulator-fault": "hang"})
    assert sim.stats()["watching"] == 1
    canceled = await client.put(f"/fal/fal-ai/minimax/requests/{hung}/cancel", headers=key)
    assert canceled.status_code == 202, canceled.text
    deliveries = await receiver.delivered(2, path="/hooks/fal")
    last = json.loads(deliveries[-1].body)
    assert (last["request_id"], last["status"]) == (hung, "ERROR")
    assert sim.stats()["watching"] == 0
    assert _reads(sim) == 0


async def test_an_openai_project_webhook_arrives_on_the_timer(
    twin: tuple[SimState, httpx.AsyncClient], recorders: Callable[..., Recorder]
) -> None:
    sim, client = twin
    receiver = recorders()
    sim.config.openai_webhook_url = f"{receiver.url}/hooks/openai"
    created = await client.post(
        "/openai/v1/videos",
        headers={"Authorization": "Bearer sk-test"},
        json={"model": "sora-2", "prompt": "a lighthouse at dusk", "seconds": "4"},
    )
    assert created.status_code == 200, created.text
    assert sim.stats()["watching"] == 1
    (delivery,) = await receiver.delivered(1, path="/hooks/openai")
    event = json.loads(delivery.body)
    assert (event["type"], event["data"]["id"]) == ("video.completed", created.json()["id"])
    assert sim.stats()["watching"] == 0
    assert _reads(sim) == 0
