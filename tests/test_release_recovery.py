"""A quarantine release is a durable workflow (``engine/release.py``): recorded at once, run by
whichever process takes it, and finished on recovery when the process running it dies. Here
``vidgate quarantine release`` is killed (-9) while it builds the delivery set; a live engine
takes its work over when its lease runs out, and the job completes, delivered once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import wait_until
from vidgate.db.tables import webhook_deliveries
from vidgate.engine import Engine
from vidgate.engine.quarantine import release_id
from vidgate.settings import Settings
from vidgate.types import JobStatus, VideoRequest

pytestmark = pytest.mark.slow

#: Enough delivery work that the release is still building when it is killed.
PROFILE = (
    '{"tiers": ["240p", "144p"], "webm": true, "hls": true, "poster": true, "sprite": true,'
    ' "preview": true}'
)


async def _held(engine: Engine) -> str:
    request = VideoRequest(
        prompt="[simulate:unsafe-output] a fox",
        duration=4,
        resolution="360p",
        seed=1,
        webhook_url="http://127.0.0.1:9/hook",  # nothing listens: the event stays queued
    )
    job = await engine.submit(request)
    done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=120)
    assert done.status is JobStatus.FAILED
    (item,) = await engine.quarantine.list()
    return item.id


async def test_a_release_killed_mid_delivery_completes_on_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDGATE_HEARTBEAT_INTERVAL", "0.2")
    monkeypatch.setenv("VIDGATE_LEASE_SECONDS", "1.0")
    monkeypatch.setenv("VIDGATE_SSRF_ALLOW", '["127.0.0.1"]')
    async with Engine(Settings()) as engine:
        item_id = await _held(engine)
        job_id = (await engine.quarantine.get(item_id)).job_id
    env = {**os.environ, "VIDGATE_DELIVERY_PROFILE": PROFILE, "VIDGATE_EXECUTOR_ID": "cli-dies"}
    log = tmp_path / "release.log"
    with log.open("wb") as stderr:
        cli = subprocess.Popen(
            [sys.executable, "-m", "vidgate", "quarantine", "release", item_id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its media lane dies with it
        )
    settings = Settings()
    watcher = Engine(settings)
    try:
        steps = watcher._client().list_workflow_steps

        def delivering() -> bool:
            assert cli.poll() is None, [e.message for e in watcher.events(job_id)][-4:]
            try:  # restored (a checkpointed step), so building the set now
                done = [s["function_name"] for s in steps(release_id(job_id))]
            except Exception:  # not started yet
                return False
            return done == ["vidgate.release.restore"]

        wait_until(delivering, 120, interval=0.02, what="the release to build the delivery set")
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait()
        job = watcher.get(job_id)
        assert job.status is JobStatus.FAILED, "killed before it could complete the job"
        assert watcher.quarantine.release_state(job_id) == "PENDING"
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
        await watcher.close()

    # A live process takes the dead one's release over and finishes it.
    async with Engine(Settings(delivery_profile=PROFILE), worker=True) as survivor:
        await asyncio.wait_for(survivor.quarantine.wait_released(job_id), timeout=180)
        job = survivor.get(job_id)
        assert job.status is JobStatus.COMPLETED and job.scan is not None and job.scan.released
        kinds = {a.kind for a in job.assets if a.deleted_at is None}
        assert {"video", "original", "240p", "webm", "hls", "poster"} <= kinds
        assert survivor.quarantine.release_state(job_id) == "SUCCESS"
        with survivor.runtime.store.engine.connect() as conn:
            sent = conn.execute(
                sa.select(sa.func.count())
                .select_from(webhook_deliveries)
                .where(
                    webhook_deliveries.c.job_id == job_id,
                    webhook_deliveries.c.event == "video.completed",
                )
            ).scalar_one()
        assert sent == 1, "video.completed queued once"
        assert release_id(job_id) == f"release-{job_id}"
