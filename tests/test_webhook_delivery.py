"""Client webhooks when the API and the workers are separate processes: every worker delivers,
claiming outbox rows with a lease, so each event goes out exactly once; a dead claimer's rows
are taken over once its lease has lapsed. And what a `vidgate worker` process says: its
database without the password, one line per job, and a cancel as one line, not a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support import Recorder, wait_until
from vidgate._clock import utcnow
from vidgate.db import make_engine, upgrade, webhook_deliveries
from vidgate.engine import Engine
from vidgate.engine.store import JobStore
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import free_port
from vidgate.types import Phase, VideoRequest, new_id
from vidgate.webhooks import WebhookDispatcher, verify

pytestmark = pytest.mark.usefixtures("backend")


def _outbox(engine: sa.Engine, n: int, url: str = "http://127.0.0.1:9/hook") -> list[str]:
    now = utcnow()
    ids = [new_id("msg") for _ in range(n)]
    with engine.begin() as conn:
        conn.execute(
            webhook_deliveries.insert(),
            [
                {
                    "id": message_id,
                    "tenant": "t",
                    "job_id": f"job_{i}",
                    "event": "video.completed",
                    "url": url,
                    "payload": {"type": "video.completed"},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for i, message_id in enumerate(ids)
            ],
        )
    return ids


@pytest.fixture
def db(settings: Settings) -> Iterator[sa.Engine]:
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_concurrent_claimers_never_share_a_row(db: sa.Engine) -> None:
    ids = _outbox(db, 120)
    claimers = [WebhookDispatcher(db, owner=f"p{i}", batch=7) for i in range(3)]
    start = threading.Barrier(len(claimers))
    got: dict[str, list[str]] = {c.owner: [] for c in claimers}

    def drain(claimer: WebhookDispatcher) -> None:
        start.wait()
        while rows := claimer.claim()[0]:
            got[claimer.owner].extend(r["id"] for r in rows)

    threads = [threading.Thread(target=drain, args=(c,)) for c in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    claimed = [m for rows in got.values() for m in rows]
    assert sorted(claimed) == sorted(ids), "every row claimed exactly once"
    with db.connect() as conn:
        query = sa.select(webhook_deliveries.c.id, webhook_deliveries.c.claimed_by)
        owners = {row.id: row.claimed_by for row in conn.execute(query)}
    assert all(owners[m] == owner for owner, rows in got.items() for m in rows)


def test_a_lapsed_claim_is_taken_over_and_the_old_claimer_cannot_record(db: sa.Engine) -> None:
    (message_id,) = _outbox(db, 1)
    dead = WebhookDispatcher(db, owner="dead")
    live = WebhookDispatcher(db, owner="live")
    rows, _ = dead.claim()
    assert [r["id"] for r in rows] == [message_id]
    assert live.claim()[0] == [], "a held claim is not taken"
    with db.begin() as conn:  # the dead claimer's lease runs out
        conn.execute(
            webhook_deliveries.update().values(claimed_until=utcnow() - timedelta(seconds=1))
        )
    taken, _ = live.claim()
    assert [r["id"] for r in taken] == [message_id]

    async def send(dispatcher: WebhookDispatcher, row: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as client:  # the SSRF guard refuses it: no network
            await dispatcher._send(client, row)

    asyncio.run(send(dead, rows[0]))  # the old claimer wakes up late
    (untouched,) = dead.deliveries()
    assert untouched["attempts"] == 0 and untouched["claimed_by"] == "live"
    asyncio.run(send(live, taken[0]))
    (recorded,) = live.deliveries()
    assert recorded["attempts"] == 1 and recorded["claimed_by"] is None
    assert recorded["status"] == "pending" and "non-public" in recorded["last_error"]


def test_a_stopping_dispatcher_gives_its_claims_back(db: sa.Engine) -> None:
    _outbox(db, 3)
    stopping = WebhookDispatcher(db, owner="stopping")
    stop = asyncio.Event()
    stop.set()
    assert asyncio.run(stopping.run_once(stop)) == 0
    assert all(d["claimed_by"] is None and d["attempts"] == 0 for d in stopping.deliveries())
    assert len(WebhookDispatcher(db, owner="next").claim()[0]) == 3


# -- real processes --------------------------------------------------------------------------


def _start(env: dict[str, str], logs: Path, *args: str) -> subprocess.Popen[bytes]:
    """A vidgate process whose stderr goes to a file in ``logs`` (a pipe nobody reads until the
    end would block a process that logs a lot)."""
    logs.mkdir(exist_ok=True)
    with (logs / f"{'-'.join(args)}.log").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "vidgate", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _stop(process: subprocess.Popen[bytes], logs: Path) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    args = process.args[3:] if isinstance(process.args, list) else []
    return (logs / f"{'-'.join(str(a) for a in args)}.log").read_text(errors="replace")


def _missing_events(
    database_url: str, expected: set[tuple[str, str]], seen: set[tuple[str, str]]
) -> str:
    """What a test that waited in vain should say: each missing event, its job's state, and
    its delivery rows."""
    engine = make_engine(database_url)
    store = JobStore(engine)
    lines = []
    for job_id, status in sorted(expected - seen):
        job = store.get(job_id)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id)
            ).mappings()
            deliveries = [
                {
                    k: v
                    for k, v in row.items()
                    if k in ("event", "status", "attempts", "claimed_by", "last_error")
                }
                for row in rows
            ]
        lines.append(f"{job_id} {status}: job {job.status.value}/{job.phase.value}, {deliveries}")
    return "\n".join(lines)


@pytest.mark.slow
def test_api_only_gateway_and_two_workers_deliver_every_event_once(
    monkeypatch: pytest.MonkeyPatch, receiver: Recorder, tmp_path: Path
) -> None:
    for key, value in {
        "VIDGATE_SIMULATED_LATENCY": "0.3",
        "VIDGATE_WEBHOOK_RETRY_BASE": "0.1",
        "VIDGATE_SSRF_ALLOW": '["127.0.0.1"]',
    }.items():
        monkeypatch.setenv(key, value)
    env = dict(os.environ)
    settings = Settings()
    Engine(settings).runtime.store.engine.dispose()  # migrated once, before the processes race
    book = TenantBook(make_engine(settings.resolved_database_url))
    api_key = book.create_key("hooks").secret
    secret = book.tenant("hooks")["webhook_secret"]
    port = free_port()
    logs = tmp_path / "logs"
    processes = [
        _start(env, logs, "serve", "--no-worker", "--port", str(port)),
        _start(env, logs, "worker", "--executor-id", "w-a"),
        _start(env, logs, "worker", "--executor-id", "w-b"),
    ]
    jobs = 12
    try:
        base = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            assert all(p.poll() is None for p in processes), "a process exited early"
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answering, 60, interval=0.1, what="the gateway to answer")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}) as http:
            ids = [
                http.post(
                    "/v1/videos",
                    json={
                        "prompt": f"a kite {i}",
                        "duration": 1,
                        "resolution": "360p",
                        "webhook_url": f"{receiver.url}/hook",
                    },
                ).json()["id"]
                for i in range(jobs)
            ]
        expected = {(job_id, e) for job_id in ids for e in ("queued", "in_progress", "completed")}

        def seen() -> set[tuple[str, str]]:
            events = [json.loads(d.body)["data"] for d in receiver.to("/hook")]
            return {(event["id"], event["status"]) for event in events}

        try:
            wait_until(lambda: seen() >= expected, 240, interval=0.1, what="every event")
        except BaseException:  # pytest's failure: say which events are missing and why
            pytest.fail(_missing_events(settings.resolved_database_url, expected, seen()))
        assert seen() == expected
    finally:
        errors = [_stop(p, logs) for p in processes]
    # uvicorn re-raises the SIGTERM it handled gracefully, so serve ends with -15.
    assert [p.returncode for p in processes] in ([0, 0, 0], [-15, 0, 0]), errors
    times = Counter(d.headers["webhook-id"] for d in receiver.requests)
    assert len(times) == 3 * jobs and set(times.values()) == {1}, "each event exactly once"
    for d in receiver.requests:
        verify(secret, d.headers, d.body)
    log = WebhookDispatcher(book.engine).deliveries(tenant="hooks")
    assert {d["status"] for d in log} == {"delivered"} and {d["attempts"] for d in log} == {1}


# -- the worker process: its banner, a line per job, and a quiet cancel ----------------------


def test_the_database_is_shown_without_its_password() -> None:
    from vidgate.cli.worker import redacted_database_url

    shown = redacted_database_url(Settings(database_url="postgresql://app:s3cret@db:5432/vg"))
    assert shown == "postgresql://app:***@db:5432/vg"


@pytest.mark.slow
def test_a_worker_logs_each_job_and_a_cancel_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("VIDGATE_SIMULATED_LATENCY", "0.3")
    settings = Settings()
    engine = Engine(settings)
    store = engine.runtime.store  # migrated once, before the worker starts
    stderr_path = tmp_path / "worker.err"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidgate", "worker"],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        small = {"duration": 1, "resolution": "360p"}
        done = engine.enqueue(VideoRequest(prompt="a fox", **small)).id
        failed = engine.enqueue(
            VideoRequest(prompt="[simulate:fail] a vole", model="simulated:synth-1", **small)
        ).id
        hung = engine.enqueue(VideoRequest(prompt="[simulate:hang] a mole", **small)).id

        def alive(check: Callable[[], bool]) -> Callable[[], bool]:
            def probe() -> bool:
                assert process.poll() is None, stderr_path.read_text()
                return check()

            return probe

        wait_until(
            alive(
                lambda: (
                    store.get(done).done
                    and store.get(failed).done
                    and store.get(hung).phase is Phase.GENERATING
                )
            ),
            90,
            interval=0.1,
            what="two jobs to end and one to hang",
        )
        asyncio.run(engine.cancel(hung))
        wait_until(
            alive(lambda: f"job {hung} was canceled" in stderr_path.read_text()),
            90,
            interval=0.1,
            what="the worker to log the cancel",
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        asyncio.run(engine.close())
    text = stderr_path.read_text()
    assert process.returncode == 0, text
    assert "Traceback" not in text and "ERROR" not in text, text
    url = sa.make_url(settings.resolved_database_url)
    assert f"database {url.render_as_string(hide_password=True)}, storage " in text
    if url.password:
        assert str(url.password) not in text
    assert "random executor id" in text and "once its lease lapses" in text
    assert "resume when a worker with this id starts again" not in text
    for job_id in (done, failed, hung):
        assert text.count(f"job {job_id} started") == 1, text
    assert f"job {done} completed: provider simulated, code completed, " in text
    assert f"job {failed} failed: provider simulated, code generation_failed, " in text
    assert text.count(f"job {hung} was canceled") == 1
