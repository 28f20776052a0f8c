"""A provider's API down while its task runs: the job keeps asking until its deadline instead of
abandoning a task it has paid for (``bench/chaos.py simulator-down`` found every in-flight job
failed with ``provider_unavailable`` once a status check's retries ran out).

The outage is real: the simulator (Replicate's twin) stops listening on its port and comes back
on the same port with its tasks, as a provider's API does after an outage.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.support import wait_until
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.simulator.app import create_app
from vidgate.simulator.server import free_port
from vidgate.simulator.state import SimState, SimulatorConfig
from vidgate.types import JobStatus, Phase, VideoRequest


class Restartable:
    """The simulator on one port, which can stop listening and start again."""

    def __init__(self, media: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app: FastAPI = create_app(
            SimulatorConfig(latency=8.0, public_url=self.url, media_dir=media, generic_renders=True)
        )
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def state(self) -> SimState:
        sim: SimState = self.app.state.sim
        return sim

    def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server is not None and self.server.started, what="the start")

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
        self.server = self.thread = None


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Restartable]:
    sim = Restartable(tmp_path / "simulator-media")
    sim.start()
    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test-token-0123456789abcdef")
    # A status check gives up quickly, so that the outage outlasts its retries.
    monkeypatch.setenv(
        "VIDGATE_RETRY_OVERRIDES",
        '{"replicate": {"max_attempts": 2, "base_delay": 0.05, "max_delay": 0.1}}',
    )
    monkeypatch.setenv("VIDGATE_POLL_MAX_INTERVAL", "0.2")
    yield sim
    sim.stop()


async def test_a_running_task_outlives_its_providers_outage(provider: Restartable) -> None:
    request = VideoRequest(
        prompt="a fox while the provider is down",
        model="replicate:bytedance/seedance-1-pro",
        duration=2,
        resolution="480p",
        deadline_seconds=120,
    )
    async with Engine(Settings()) as engine:
        job = await engine.submit(request)
        await asyncio.to_thread(
            wait_until,
            lambda: engine.get(job.id).phase is Phase.GENERATING,
            timeout=30,
            what="the task to run at the provider",
        )
        provider.stop()
        try:
            await asyncio.to_thread(
                wait_until,
                lambda: (
                    engine.get(job.id).done
                    or any("after its retries" in e.message for e in engine.events(job.id))
                ),
                timeout=30,
                what="a status check to run out of retries",
            )
        finally:
            provider.start()
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.05), timeout=90)
    assert done.status is JobStatus.COMPLETED, done.error
    creates = provider.state.creates_by_reference["replicate"]
    assert dict(creates) == {f"{job.id}-1": 1}, "one task, no second create"
