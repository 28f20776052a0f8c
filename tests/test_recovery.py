"""Crash recovery with real processes: a worker dies by kill -9 mid-job, and every job still
completes exactly once — resumed by the same worker restarted, or taken over by another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from tests.support import wait_until
from vidgate.engine import Engine
from vidgate.providers.simulated import created
from vidgate.settings import Settings
from vidgate.types import JobStatus, Phase, VideoRequest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("backend")]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in {
        "VIDGATE_SIMULATED_LATENCY": "1.5",
        "VIDGATE_POLL_INTERVAL": "0.1",
        "VIDGATE_QUEUE_POLL_INTERVAL": "0.1",
        "VIDGATE_HEARTBEAT_INTERVAL": "0.2",
        "VIDGATE_LEASE_SECONDS": "1.0",
    }.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


def worker(env: dict[str, str], executor_id: str) -> subprocess.Popen[bytes]:
    # stderr goes to a file: a pipe nobody reads fills up with the worker's log lines, and a
    # worker blocked writing to it stops heartbeating and is taken for dead.
    with tempfile.TemporaryFile() as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "vidgate", "worker", "--executor-id", executor_id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def enqueue_jobs(settings: Settings) -> list[str]:
    engine = Engine(settings)
    prompts = ["a fox", "a heron", "a lighthouse", "[simulate:crash-after-create] an owl"]
    ids = [
        engine.enqueue(
            VideoRequest(prompt=p, duration=1, resolution="360p", aspect_ratio="16:9", seed=i)
        ).id
        for i, p in enumerate(prompts)
    ]
    engine.runtime.store.engine.dispose()
    return ids


def wait_until_done(settings: Settings, ids: list[str], timeout: float = 90) -> None:
    store = Engine(settings).runtime.store
    wait_until(
        lambda: all(store.get(i).done for i in ids),
        timeout,
        interval=0.1,
        what=(f"jobs {ids} finishing"),
    )


def assert_exactly_once(settings: Settings, ids: list[str]) -> None:
    store = Engine(settings).runtime.store
    creates = Counter(c["reference"] for c in created(settings.resolved_home))
    for job_id in ids:
        job = store.get(job_id)
        assert job.status is JobStatus.COMPLETED, (job_id, job.error)
        assert [a.number for a in job.attempts] == [1], "no fallback was needed"
        assert creates[f"{job_id}-1"] == 1, f"{job_id} was submitted {creates[f'{job_id}-1']} times"
    assert sum(creates.values()) == len(ids)


def test_killed_worker_restarted_with_its_id_finishes_every_job_once(
    env: dict[str, str], settings: Settings
) -> None:
    ids = enqueue_jobs(settings)
    first = worker(env, "w-1")
    # The owl's create kills the process (exit 137) between the provider's answer and the
    # checkpoint: the worst moment. Other jobs are mid-flight at that point.
    assert first.wait(timeout=60) == 137
    store = Engine(settings).runtime.store
    owl = store.get(ids[3])
    assert not owl.done and owl.attempts[0].remote_id is None, "died before the checkpoint"
    second = worker(env, "w-1")
    try:
        wait_until_done(settings, ids)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert second.returncode == 0
    assert_exactly_once(settings, ids)


def test_jobs_of_a_worker_that_never_returns_are_taken_over(
    env: dict[str, str], settings: Settings
) -> None:
    ids = enqueue_jobs(settings)
    doomed = worker(env, "w-doomed")
    assert doomed.wait(timeout=60) == 137
    survivor = worker(env, "w-survivor")
    try:
        wait_until_done(settings, ids)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=30)
    assert_exactly_once(settings, ids)
    workers = {w["executor_id"]: w for w in Engine(settings).runtime.leases.listing()}
    assert workers["w-doomed"]["state"] == "recovered"
    assert workers["w-doomed"]["recovered_by"] == "w-survivor"


def test_kill_9_mid_generation(env: dict[str, str], settings: Settings) -> None:
    engine = Engine(settings)
    ids = [
        engine.enqueue(VideoRequest(prompt=f"a comet {i}", duration=1, resolution="360p")).id
        for i in range(3)
    ]
    victim = worker(env, "w-victim")
    store = engine.runtime.store
    wait_until(
        lambda: all(store.get(i).phase is Phase.GENERATING for i in ids),
        60,
        interval=0.05,
        what="the jobs reaching the provider",
    )
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    heir = worker(env, "w-heir")
    try:
        wait_until_done(settings, ids)
    finally:
        heir.send_signal(signal.SIGTERM)
        heir.wait(timeout=30)
    assert_exactly_once(settings, ids)
    assert Path(store.get(ids[0]).output.uri if store.get(ids[0]).output else "").is_file()


def test_kill_9_while_the_poll_holds_in_process(env: dict[str, str], settings: Settings) -> None:
    """The poll step holds its wait in memory (no checkpoint while the task is unchanged); a
    worker killed mid-hold leaves nothing half-written: the heir runs the step again and the
    job completes once."""
    env = {**env, "VIDGATE_SIMULATED_LATENCY": "4"}
    engine = Engine(settings)
    job_id = engine.enqueue(VideoRequest(prompt="a glacier", duration=1, resolution="360p")).id
    store = engine.runtime.store
    victim = worker(env, "w-holder")

    def mid_hold() -> bool:
        # progress written by the hold (running), after its first poll (queued): the request log
        # keeps a row per new state
        attempts = store.get(job_id).attempts
        polls = sum(1 for c in store.calls(job_id) if c.url.endswith("/status"))
        return bool(attempts) and (attempts[0].progress or 0) > 0 and polls >= 2

    wait_until(mid_hold, 60, interval=0.05, what="the poll holding mid-task")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    heir = worker(env, "w-heir")
    try:
        wait_until_done(settings, [job_id])
    finally:
        heir.send_signal(signal.SIGTERM)
        heir.wait(timeout=30)
    assert_exactly_once(settings, [job_id])


def test_two_workers_share_the_queue_without_duplicates(
    env: dict[str, str], settings: Settings
) -> None:
    from dbos import DBOSClient

    env = {**env, "VIDGATE_WORKER_CONCURRENCY": "2"}
    engine = Engine(settings)
    ids = [
        engine.enqueue(VideoRequest(prompt=f"a kite {i}", duration=1, resolution="360p")).id
        for i in range(8)
    ]
    pool = [worker(env, "w-left"), worker(env, "w-right")]
    try:
        wait_until_done(settings, ids)
    finally:
        for proc in pool:
            proc.send_signal(signal.SIGTERM)
        for proc in pool:
            proc.wait(timeout=30)
    assert_exactly_once(settings, ids)
    client = DBOSClient(system_database_url=settings.resolved_database_url)
    try:
        ran_by = Counter(client.retrieve_workflow(i).get_status().executor_id for i in ids)
    finally:
        client.destroy()
    assert set(ran_by) == {"w-left", "w-right"}, ran_by


def test_serve_shuts_down_gracefully_and_loses_no_job(
    env: dict[str, str], settings: Settings
) -> None:
    import httpx

    from vidgate.server.tenancy import TenantBook
    from vidgate.simulator.server import free_port

    key = TenantBook(Engine(settings).runtime.store.engine).create_key("acme").secret
    port = free_port()

    def serve() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidgate", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 30, interval=0.1, what="vidgate serve starting")
        return proc

    first = serve()
    headers = {"Authorization": f"Bearer {key}"}
    job = httpx.post(
        f"http://127.0.0.1:{port}/v1/videos",
        json={"prompt": "a lantern", "duration": 1, "resolution": "360p"},
        headers=headers,
    ).json()
    store = Engine(settings).runtime.store
    wait_until(
        lambda: store.get(job["id"]).phase is Phase.GENERATING,
        60,
        interval=0.05,
        what="the job reaching the provider",
    )
    first.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why.
    assert first.wait(timeout=30) in (0, -signal.SIGTERM)
    states = {w["pid"]: w["state"] for w in Engine(settings).runtime.leases.listing()}
    assert states[first.pid] == "stopped", "the shutdown ran: unfinished work is handed over"
    assert not store.get(job["id"]).done
    second = serve()
    try:
        wait_until_done(settings, [job["id"]])
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert_exactly_once(settings, [job["id"]])
