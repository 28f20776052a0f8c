"""Off-peak batches: a ``priority=batch`` job admitted outside ``VIDGATE_BATCH_WINDOW`` is held
(phase ``scheduled``, ``not_before``) and released by a worker when the window opens; its
deadline counts from release; it can be cancelled while scheduled; the schedule survives an
engine restart. Time is an injected clock (``Engine(clock=…)``) or a window placed away from
now: nothing sleeps."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dbos import DBOS
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.budget_support import kinds
from tests.conftest import small_request
from vidgate.cli import app as cli
from vidgate.db import jobs
from vidgate.engine import Engine
from vidgate.server import create_app
from vidgate.settings import Settings
from vidgate.types import Job, JobStatus, Phase

os.environ["COLUMNS"] = "250"

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
OPENS = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)


class Clock:
    """The time the engine schedules by; the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def night(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_BATCH_WINDOW", "22:00-06:00")
    monkeypatch.setenv("VIDGATE_BATCH_RELEASE_INTERVAL", "0.05")


async def finished(engine: Engine, job_id: str) -> Job:
    return await asyncio.wait_for(engine.wait(job_id, interval=0.02), timeout=90)


def messages(engine: Engine, job_id: str) -> list[str]:
    return [e.message for e in engine.events(job_id)]


@pytest.mark.usefixtures("backend", "night")
async def test_a_batch_job_waits_for_the_window_and_its_deadline_counts_from_release() -> None:
    clock = Clock(NOON)
    async with Engine(Settings(), worker=True, clock=clock) as engine:
        job = await engine.submit(small_request(priority="batch", deadline_seconds=30))
        assert (job.status, job.phase, job.not_before) == (
            JobStatus.QUEUED,
            Phase.SCHEDULED,
            OPENS,
        )
        assert await DBOS.get_workflow_status_async(job.id) is None  # nothing started
        assert messages(engine, job.id) == [
            "job created; a batch job, scheduled for the off-peak window (22:00-06:00 UTC): "
            "not before 2026-12-02 22:00 UTC"
        ]
        [listed] = engine.list_jobs()
        assert (listed.id, listed.phase) == (job.id, Phase.SCHEDULED)
        assert await engine.release_scheduled(OPENS - timedelta(minutes=1)) == []
        # Held far longer than its 30 s deadline: the deadline counts from release.
        with engine.database.begin() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(created_at=job.created_at - timedelta(hours=3))
            )
        clock.now = OPENS  # the worker's release loop finds it due at its next check
        done = await finished(engine, job.id)
        assert done.status is JobStatus.COMPLETED, done.error
        assert "released: the batch window is open; its deadline counts from now" in messages(
            engine, job.id
        )
        # Inside the window a batch job starts at once; other priorities never wait.
        inside = await engine.submit(small_request("at night", priority="batch"))
        clock.now = NOON
        now = await engine.submit(small_request("at noon", priority="standard"))
        assert inside.phase is Phase.QUEUED and inside.not_before is None
        assert now.phase is Phase.QUEUED and now.not_before is None
        for other in (inside, now):
            assert (await finished(engine, other.id)).status is JobStatus.COMPLETED


@pytest.mark.usefixtures("backend", "night")
async def test_a_scheduled_job_can_be_cancelled_and_is_never_released() -> None:
    async with Engine(Settings(), worker=True, clock=Clock(NOON)) as engine:
        job = await engine.submit(small_request(priority="batch"))
        canceled = await engine.cancel(job.id)
        assert canceled.status is JobStatus.CANCELED
        assert await engine.release_scheduled(OPENS) == []
        assert engine.get(job.id).status is JobStatus.CANCELED
        assert kinds(engine.database, job.id) == ["reservation", "release"]


@pytest.mark.usefixtures("backend", "night")
async def test_the_schedule_survives_an_engine_restart() -> None:
    async with Engine(Settings(), clock=Clock(NOON)) as first:
        job = await first.submit(small_request(priority="batch"))
        assert job.phase is Phase.SCHEDULED
    # Another process (a worker started later, inside the window) releases and runs it.
    async with Engine(Settings(), worker=True, clock=Clock(OPENS)) as second:
        done = await finished(second, job.id)
        assert done.status is JobStatus.COMPLETED, done.error
        assert done.request.priority is not None and done.request.priority.value == "batch"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """A window that opens two hours from now (real time: the CLI and the gateway's clock)."""
    opens = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    monkeypatch.setenv("VIDGATE_BATCH_WINDOW", f"{opens:%H:%M}-{closes:%H:%M}")
    return opens


def test_the_cli_schedules_lists_shows_and_cancels_a_batch_job(later: datetime) -> None:
    code, stdout, stderr = run(
        "generate", "a fox", "--duration", "1", "--resolution", "360p", "--priority", "batch"
    )
    assert code == 0, stderr
    job_id = stdout.strip()
    assert f"job {job_id} is a batch job, scheduled for the off-peak window" in stderr
    assert f"{later:%Y-%m-%d %H:%M} UTC" in stderr.replace("\n", " ")
    code, listed, _ = run("jobs", "list")
    assert code == 0 and f"scheduled until {later:%Y-%m-%d %H:%M} UTC" in listed
    assert "batch" in listed
    code, shown, _ = run("jobs", "show", job_id)
    assert code == 0 and "not before" in shown and "scheduled" in shown
    code, said, _ = run("jobs", "cancel", job_id)
    assert code == 0 and said.strip() == f"job {job_id} canceled"
    code, listed, _ = run("jobs", "list", "--json")
    [job] = json.loads(listed)
    assert job["status"] == "canceled" and job["not_before"] is not None


@pytest.fixture
def gateway(later: datetime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = create_app(Settings())
    with TestClient(app) as client:
        key = app.state.gateway.tenants.create_key("acme").secret
        yield client, {"Authorization": f"Bearer {key}"}


def test_the_api_holds_a_batch_job_and_cancels_it_while_scheduled(
    gateway: tuple[TestClient, dict[str, str]], later: datetime
) -> None:
    client, acme = gateway
    body = {"prompt": "a fox", "duration": 1, "resolution": "360p", "priority": "batch"}
    made = client.post("/v1/videos", headers=acme, json=body)
    assert made.status_code == 200, made.text
    video = made.json()
    assert (video["status"], video["phase"], video["priority"]) == ("queued", "scheduled", "batch")
    assert video["not_before"] == int(later.timestamp())
    listed = client.get("/v1/videos", headers=acme).json()["data"]
    assert [(v["id"], v["phase"]) for v in listed] == [(video["id"], "scheduled")]
    canceled = client.post(f"/v1/videos/{video['id']}/cancel", headers=acme)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    # Nothing is left for a worker to release.
    engine = client.app.state.gateway.engine  # type: ignore[attr-defined]
    assert asyncio.run(engine.release_scheduled(later)) == []
    with engine.database.connect() as conn:
        status = conn.execute(sa.select(jobs.c.status).where(jobs.c.id == video["id"])).scalar()
    assert status == "canceled"
