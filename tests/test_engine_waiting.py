"""Cheap waiting (issue 10): the job waits on its attempt by message, and a task that has not
changed costs no checkpoint per poll."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dbos import DBOS

from tests.conftest import small_request
from tests.support import poll_until
from vidgate.engine import Engine
from vidgate.providers.base import TaskState
from vidgate.providers.simulated import SimulatedProvider
from vidgate.settings import Settings
from vidgate.types import JobStatus

pytestmark = pytest.mark.usefixtures("backend")


async def steps(workflow_id: str) -> list[str]:
    listed: list[dict[str, Any]] = await DBOS.list_workflow_steps_async(workflow_id)  # type: ignore[assignment]
    return [str(step["function_name"]) for step in listed]


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
    settings.simulated_latency = 1.5
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a fox"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), 60)
        attempt_steps = await steps(f"{job.id}-1")
        polls = [c for c in engine.runtime.store.calls(job.id) if c.url.endswith("/status")]
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(polls) >= 5, "the task was polled at the (adaptive) interval all along"
    # Before: a poll step, a recv and its durable sleep for every one of those polls.
    assert attempt_steps.count("vidgate.poll") <= 2
    assert "DBOS.recv" not in attempt_steps and "DBOS.sleep" not in attempt_steps
    # Progress is still recorded as it changes.
    assert done.progress == 100
    assert any("generating on simulated" in e.message for e in engine.runtime.store.events(job.id))


@pytest.mark.parametrize("public_url", [None, "http://127.0.0.1:9"])
async def test_a_webhook_is_noticed_at_once_with_or_without_a_public_url(
    settings: Settings, public_url: str | None
) -> None:
    """Without a public URL the poll step holds its wait in-process and ``notify`` cuts it
    short; with one, the attempt waits in a ``recv`` that the webhook's message ends."""
    settings.poll_interval = 60.0  # polling alone would take a minute
    settings.simulated_latency = 0.2
    settings.public_url = public_url
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a fox"))
        async for snapshot in engine.watch(job.id, interval=0.02):
            if snapshot.attempts and snapshot.attempts[0].remote_id:
                break
        attempt = engine.get(job.id).attempts[0]
        await poll_until(
            SimulatedProvider(settings),
            attempt.remote_id or "",
            lambda s: s.state is TaskState.SUCCEEDED,
        )
        engine.notify(job.id, attempt.id, {"status": "succeeded"})
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=20)
    assert done.status is JobStatus.COMPLETED
