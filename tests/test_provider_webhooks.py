"""A provider's webhook reaches the gateway and finishes the job long before the next poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.support import wait_until
from vidgate.server import create_app
from vidgate.settings import Settings
from vidgate.simulator.server import free_port, simulator_in_thread
from vidgate.simulator.state import SimulatorConfig


def test_openai_webhook_wakes_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    config = SimulatorConfig(
        latency=0.3,
        media_dir=tmp_path / "sim",
        openai_webhook_url=f"http://127.0.0.1:{port}/webhooks/openai",
    )
    with simulator_in_thread(config) as sim:
        monkeypatch.setenv("VIDGATE_SIMULATOR_URL", sim.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-sim")
        monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", config.openai_webhook_secret)
        monkeypatch.setenv("VIDGATE_ALLOW_RETIRED", "openai")
        settings = Settings(
            home=tmp_path / "home",
            poll_interval=120.0,  # polling alone would take two minutes
            poll_max_interval=120.0,
            queue_poll_interval=0.1,
        )
        app = create_app(settings)
        key = app.state.gateway.tenants.create_key("acme").secret
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 30, what="the gateway starting")
        try:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                job = http.post(
                    "/v1/videos",
                    json={"prompt": "a lighthouse", "model": "openai:sora-2", "seconds": "4"},
                ).json()
                assert job["status"] == "queued", job
                began = time.monotonic()
                video = wait_until(
                    lambda: (
                        (got := http.get(f"/v1/videos/{job['id']}").json())["status"]
                        in ("completed", "failed")
                        and got
                    ),
                    60,
                    interval=0.1,
                    what="the job ending",
                )
            assert video["status"] == "completed", video["error"]
            assert time.monotonic() - began < 30, "finished by the webhook, not the 120 s poll"
            deliveries = [w for w in sim.state.webhooks if w["kind"] != "callback"]
            assert deliveries and all(w["status"] == 200 for w in deliveries)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
