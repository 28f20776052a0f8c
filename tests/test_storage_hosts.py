"""Storage for many hosts: a job run by `vidgate worker` on one "host" and its content served by
`vidgate serve --no-worker` on another — separate processes, separate VIDGATE_HOMEs (no shared
disk), one database and one S3 bucket (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.s3_support import Bucket
from tests.support import wait_until
from vidgate.db import make_engine
from vidgate.engine import Engine
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import free_port


def _start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "vidgate", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_a_gateway_that_did_not_run_the_job_serves_it_from_s3(
    s3_bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    monkeypatch.setenv("VIDGATE_DATABASE_URL", database)
    monkeypatch.setenv("VIDGATE_SIMULATED_LATENCY", "0.3")
    settings = Settings(home=tmp_path / "setup")
    Engine(settings).runtime.store.engine.dispose()  # migrated once, before the processes race
    book = TenantBook(make_engine(settings.resolved_database_url))
    key = book.create_key("acme").secret
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    common = dict(os.environ)
    worker_env = {**common, "VIDGATE_HOME": str(tmp_path / "worker-host")}
    gateway_env = {
        **common,
        "VIDGATE_HOME": str(tmp_path / "gateway-host"),
        "VIDGATE_PUBLIC_URL": base,
    }
    processes = [
        _start(gateway_env, tmp_path / "serve.log", "serve", "--no-worker", "--port", str(port)),
        _start(worker_env, tmp_path / "worker.log", "worker", "--executor-id", "w-s3"),
    ]
    try:

        def answering() -> bool:
            assert all(p.poll() is None for p in processes), (
                "a process exited early: "
                + (tmp_path / "serve.log").read_text(errors="replace")[-2000:]
                + (tmp_path / "worker.log").read_text(errors="replace")[-2000:]
            )
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answering, 60, interval=0.1, what="the gateway to answer")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            job_id = http.post(
                "/v1/videos", json={"prompt": "a kite", "duration": 1, "resolution": "360p"}
            ).json()["id"]

            def finished() -> dict[str, object] | None:
                video = http.get(f"/v1/videos/{job_id}").json()
                return video if video["status"] in ("completed", "failed") else None

            video = wait_until(finished, 120, interval=0.1, what="the worker to finish the job")
            assert video["status"] == "completed", video
            # The worker's host kept nothing servable: the files are in the bucket only.
            assert not (tmp_path / "worker-host" / "media" / "videos").exists() or not any(
                (tmp_path / "worker-host" / "media" / "videos").iterdir()
            )
            assert f"media/videos/{job_id}.mp4" in s3_bucket.object_keys()
            moved = http.get(f"/v1/videos/{job_id}/content")
            assert moved.status_code == 302
            body = httpx.get(moved.headers["location"]).content
            stored = (
                s3_bucket.client()
                .get_object(Bucket=s3_bucket.name, Key=f"media/videos/{job_id}.mp4")["Body"]
                .read()
            )
            assert body == stored and len(body) > 1000
            signed = httpx.get(video["urls"]["video"], follow_redirects=True)  # type: ignore[index]
            assert signed.status_code == 200
            assert hashlib.sha256(signed.content).hexdigest() == hashlib.sha256(body).hexdigest()
    finally:
        for process in processes:
            _stop(process)
