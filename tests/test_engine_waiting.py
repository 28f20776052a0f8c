"""Cheap waiting (issue 10): the job waits on its attempt by message, a task that has not changed
costs no checkpoint per poll, and a webhook, a cancel or a deadline still ends the hold at once —
also when they come from another process (here: a bare DBOS client, which cannot wake this
process's waiters in memory, so only the shared check can)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from tests.conftest import small_request
from tests.support import poll_until, until
from vidgate.db import make_engine
from vidgate.engine import Engine
from vidgate.engine import workflow as wf
from vidgate.providers.base import TaskState, TaskStatus
from vidgate.providers.simulated import SimulatedProvider
from vidgate.settings import Settings
from vidgate.types import JobStatus

pytestmark = pytest.mark.usefixtures("backend")


async def steps(workflow_id: str) -> list[str]:
    """The workflow's checkpoints: its rows in DBOS's ``operation_outputs``."""
    listed: list[dict[str, Any]] = await DBOS.list_workflow_steps_async(workflow_id)  # type: ignore[assignment]
    return [str(step["function_name"]) for step in listed]


def status_calls(engine: Engine, job_id: str) -> int:
    return sum(1 for c in engine.runtime.store.calls(job_id) if c.url.endswith("/status"))


def other_process(settings: Settings) -> DBOSClient:
    """What another process (the gateway) uses to reach a worker's workflows."""
    return DBOSClient(system_database_url=settings.resolved_database_url)


async def held(engine: Engine, job_id: str) -> str:
    """The attempt id once its task exists, the hold has polled it and waits (as does the job,
    for the attempt's message)."""

    async def polled() -> str | None:
        job = engine.get(job_id)
        if (
            job.attempts
            and job.attempts[0].remote_id
            and status_calls(engine, job_id) >= 1
            and engine.runtime.wakeups.waiting == 2
        ):
            return job.attempts[0].id
        return None

    return await until(polled, 30, what="the attempt's first poll")


async def test_the_job_waits_on_its_attempt_by_message_not_by_its_handle(
    settings: Settings,
) -> None:
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a fox"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), 60)
        job_steps = await steps(job.id)
        attempt_steps = await steps(f"{job.id}-1")
    assert done.status is JobStatus.COMPLETED, done.error
    assert "DBOS.getResult" not in job_steps
    assert "DBOS.recv" in job_steps
    assert attempt_steps[-1] == "DBOS.send"  # the attempt's last act


async def test_an_unchanged_task_costs_no_checkpoint_per_poll(settings: Settings) -> None:
    settings.poll_interval = 0.05
    settings.simulated_latency = 2.0
    async with Engine(settings) as engine:
        # Count the provider's status checks where they happen: the request log keeps only the
        # checks that showed a change (an unchanged poll writes nothing durable at all).
        provider = engine.runtime.provider("simulated")
        checks = []
        poll = provider.poll

        async def counted(remote_id: str) -> TaskStatus:
            checks.append(remote_id)
            return await poll(remote_id)

        provider.poll = counted  # type: ignore[method-assign]
        job = await engine.submit(small_request("a fox"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), 60)
        attempt_steps = await steps(f"{job.id}-1")
        polls = len(checks)
        logged = status_calls(engine, job.id)
        progress_rows = [e for e in engine.runtime.store.events(job.id) if "simulated" in e.message]
        url = settings.resolved_database_url
    assert done.status is JobStatus.COMPLETED, done.error
    assert polls >= 10, "the task was polled at the (adaptive) interval all along"
    assert logged < polls, "only the checks that showed a change are in the request log"
    # Before: a poll step, a recv and its durable sleep for every one of those polls.
    assert attempt_steps.count("vidgate.poll") <= 2, attempt_steps
    assert "DBOS.recv" not in attempt_steps and "DBOS.sleep" not in attempt_steps
    rows = _checkpoint_rows(url, [job.id, f"{job.id}-1"])
    assert rows <= 20, f"{rows} checkpoint rows for a job polled {polls} times"
    # Progress is still recorded as it changes, in steps of a tenth, not once per poll.
    assert done.progress == 100
    assert 1 <= len(progress_rows) <= 12, [e.message for e in progress_rows]


def _checkpoint_rows(url: str, workflow_ids: list[str]) -> int:
    engine = make_engine(url)
    table = "dbos.operation_outputs" if engine.dialect.name == "postgresql" else "operation_outputs"
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(f"SELECT count(*) FROM {table} WHERE workflow_uuid IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"ids": workflow_ids},
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("sender", ["engine", "other process"])
async def test_a_webhook_wakes_a_held_poll_at_once(settings: Settings, sender: str) -> None:
    settings.poll_interval = 60.0  # polling alone would take a minute
    settings.simulated_latency = 2.0  # the hold must see it running first
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a fox"))
        attempt_id = await held(engine, job.id)
        remote_id = engine.get(job.id).attempts[0].remote_id or ""
        await poll_until(
            SimulatedProvider(settings), remote_id, lambda s: s.state is TaskState.SUCCEEDED
        )
        if sender == "engine":
            engine.notify(job.id, attempt_id, {"status": "succeeded"})
        else:
            client = other_process(settings)
            try:
                await asyncio.to_thread(client.send, attempt_id, {}, wf.PROVIDER_EVENT)
            finally:
                client.destroy()
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=20)
        attempt_steps = await steps(attempt_id)
    assert done.status is JobStatus.COMPLETED, done.error
    # The hold polled, the webhook cut it short, one more poll saw the end.
    assert attempt_steps.count("vidgate.poll") == 1, attempt_steps
    assert status_calls(engine, job.id) == 2


@pytest.mark.parametrize("canceller", ["engine", "other process"])
async def test_a_cancel_ends_a_held_attempt_at_once(
    settings: Settings, canceller: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings.poll_interval = 60.0
    caplog.set_level(logging.INFO, logger="vidgate.engine")
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("[simulate:hang] a fox"))
        await held(engine, job.id)
        if canceller == "engine":
            await engine.cancel(job.id)
        else:  # what Engine.cancel does in the gateway, which holds none of these waiters
            client = other_process(settings)
            try:
                await asyncio.to_thread(client.cancel_workflow, job.id, cancel_children=True)
            finally:
                client.destroy()

        async def stopped() -> bool:
            return engine.runtime.wakeups.waiting == 0 and any(
                f"job {job.id} was canceled" in r.getMessage() for r in caplog.records
            )

        await until(stopped, 10, what="the held attempt and its job to stop")
        assert status_calls(engine, job.id) <= 2


async def test_a_deadline_fires_during_a_hold(settings: Settings) -> None:
    settings.poll_interval = 60.0
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("[simulate:hang] a fox", deadline_seconds=1.0))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=20)
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "timeout"


async def test_a_plan_from_before_the_message_awaits_the_handle(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job checkpointed by an older release (its plan has no ``wait``) replays as it ran:
    it awaits its attempt's handle, and the attempt's message is simply never read."""
    monkeypatch.setattr(wf, "WAIT_SHAPE", {})
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a fox"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), 60)
        job_steps = await steps(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert "DBOS.getResult" in job_steps and "DBOS.recv" not in job_steps
