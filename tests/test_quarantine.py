"""The scan step end to end against the simulated provider: a marked output is quarantined and
never served, release serves it, the tenant's policy decides fail / fallback / flag, a black
video is caught, every decision and admin action is audited; and the CLI's quarantine commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import small_request
from vidgate.cli import app as cli
from vidgate.db import webhook_deliveries
from vidgate.engine import Engine
from vidgate.exceptions import OutputQuarantined, QuarantineConflict
from vidgate.safety import audit
from vidgate.safety.quarantine import refuse_if_held
from vidgate.settings import Settings
from vidgate.types import AttemptStatus, Job, JobStatus, VideoRequest

pytestmark = pytest.mark.usefixtures("backend")

MARKED = "[simulate:unsafe-output] a fox"


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


async def run(engine: Engine, request: VideoRequest) -> Job:
    job = await engine.submit(request)
    return await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=120)


def history(engine: Engine, job: Job) -> list[str]:
    return [e.message for e in engine.events(job.id)]


def stored(engine: Engine, key: str) -> Path:
    return engine.settings.resolved_storage_dir / key


async def test_a_marked_output_is_quarantined_never_served_and_release_serves_it(
    engine: Engine,
) -> None:
    hook = "http://127.0.0.1:9/hook"  # never answered: only the queued events are read
    job = await run(engine, small_request(MARKED, model="simulated:synth-1", webhook_url=hook))
    # The policy's default for a blocked output is to fail the job.
    assert job.status is JobStatus.FAILED and job.error is not None
    assert job.error.code == "output_blocked" and job.error.outcome.value == "content_rejected"
    assert job.output is None and job.thumbnail is None
    (attempt,) = job.attempts
    assert attempt.status is AttemptStatus.FAILED and attempt.error is not None
    # It was generated, so it stays charged (computed from what was delivered).
    assert attempt.cost_basis is not None and attempt.cost_basis.value == "computed"
    scan = job.scan
    assert scan is not None and scan.verdict == "block" and scan.categories == ["sexual"]
    assert scan.scores["sexual"] == 1.0 and scan.scanners == ["marker"]
    assert scan.frames and all(f.time >= 0.5 for f in scan.frames)  # the marked second half
    assert any(m.startswith("scan: block (sexual 1.00; frames ") for m in history(engine, job))
    with pytest.raises(OutputQuarantined):
        refuse_if_held(job)
    # Held apart: under quarantine/, nothing at the servable keys.
    (item,) = await engine.quarantine.list()
    assert (item.job_id, item.attempt_number, item.status) == (job.id, 1, "held")
    assert scan.quarantine_id == item.id and item.video_key == f"quarantine/{job.id}/1.mp4"
    assert stored(engine, item.video_key).is_file()
    assert not stored(engine, f"videos/{job.id}.mp4").exists()
    decisions = audit.query(engine.database, job_id=job.id, stage="output")
    assert [(d.action, d.categories) for d in decisions] == [("block", ("sexual",))]
    assert [d.moderator for d in decisions] == ["marker"], "the scanners that ran are named"

    released = await engine.quarantine.release(item.id, by="test-admin", wait=True)
    assert released.status == "released" and released.resolved_by == "test-admin"
    job = engine.get(job.id)
    assert job.status is JobStatus.COMPLETED and job.error is None
    assert job.output is not None and job.output.media is not None
    assert job.scan is not None and job.scan.released
    refuse_if_held(job)  # servable now
    assert engine.stored_file(job.output) is not None and job.thumbnail is not None
    # Released, it gets the delivery set a completed job has: the original kept apart, the
    # served video the browser-safe one made from it.
    kinds = {a.kind for a in job.assets}
    assert {"original", "video"} <= kinds, kinds
    video = next(a for a in job.assets if a.kind == "video")
    assert video.facts is not None and video.facts.codec == "h264"
    assert not stored(engine, item.video_key).exists()
    assert any("was released by test-admin" in m for m in history(engine, job))
    # The client hears of it as of any completion: video.failed, then video.completed.
    with engine.database.connect() as conn:
        events = conn.execute(
            sa.select(webhook_deliveries.c.event)
            .where(webhook_deliveries.c.job_id == job.id)
            .order_by(webhook_deliveries.c.created_at)
        ).scalars()
        assert [e for e in events if e != "video.in_progress"][-2:] == [
            "video.failed",
            "video.completed",
        ]
    actions = audit.query(engine.database, job_id=job.id, stage="output")
    assert sorted(d.action for d in actions) == ["allow", "block"]
    assert any(d.moderator == "admin:test-admin" for d in actions)
    with pytest.raises(QuarantineConflict):
        await engine.quarantine.release(item.id, by="again")


async def test_the_policy_can_fall_back_and_the_quarantined_attempt_stays_charged(
    settings: Settings,
) -> None:
    settings.safety_policy = json.dumps({"on_output_block": "fallback"})
    async with Engine(settings) as engine:
        job = await run(engine, small_request("[simulate:unsafe-output@1] a fox"))
        assert job.status is JobStatus.COMPLETED, job.error
        first, second = job.attempts
        assert first.error is not None and first.error.code == "output_blocked"
        assert first.error.details["fallback"] is True and first.cost_basis is not None
        assert second.status is AttemptStatus.SUCCEEDED
        assert job.scan is not None and (job.scan.verdict, job.scan.attempt) == ("allow", 2)
        refuse_if_held(job)
        (item,) = await engine.quarantine.list(job_id=job.id)
        assert item.attempt_number == 1
        # The job was delivered from attempt 2: this one can only be deleted.
        with pytest.raises(QuarantineConflict):
            await engine.quarantine.release(item.id, by="admin", wait=True)
        deleted = await engine.quarantine.delete(item.id, by="admin")
        assert deleted.status == "deleted" and not stored(engine, item.video_key).exists()
        assert await engine.quarantine.list(job_id=job.id) == []
        assert len(await engine.quarantine.list(status=None, job_id=job.id)) == 1


async def test_flag_delivers_the_output_marked(settings: Settings) -> None:
    settings.safety_policy = json.dumps({"actions": {"sexual": "flag"}})
    async with Engine(settings) as engine:
        job = await run(engine, small_request(MARKED))
        assert job.status is JobStatus.COMPLETED and job.output is not None
        assert job.scan is not None and job.scan.verdict == "flag"
        assert job.scan.categories == ["sexual"] and job.scan.quarantine_id is None
        refuse_if_held(job)
        assert await engine.quarantine.list() == []
        assert [d.action for d in audit.query(engine.database, job_id=job.id, stage="output")] == [
            "flag"
        ]


async def test_a_black_video_is_caught_and_falls_back(settings: Settings) -> None:
    settings.scanners = "marker,technical"
    async with Engine(settings) as engine:
        job = await run(engine, small_request("[simulate:black-output@1] a fox"))
        assert job.status is JobStatus.COMPLETED, job.error
        first, second = job.attempts
        assert first.error is not None and first.error.code == "output_defective"
        assert "black: 24 of 24 frames" in first.error.message
        assert second.status is AttemptStatus.SUCCEEDED
        assert job.scan is not None and job.scan.verdict == "allow"
        assert any(m.startswith("scan: defective (defect 1.00") for m in history(engine, job))
        assert await engine.quarantine.list() == []  # a broken output is not a policy matter


async def test_a_clean_output_is_allowed_and_audited(engine: Engine) -> None:
    job = await run(engine, small_request("a calm lake"))
    assert job.status is JobStatus.COMPLETED
    assert job.scan is not None and job.scan.verdict == "allow" and job.scan.sampled_frames >= 3
    assert [d.action for d in audit.query(engine.database, job_id=job.id, stage="output")] == [
        "allow"
    ]
    assert any(m.startswith("scan: allowed (1 scanners") for m in history(engine, job))


def test_the_quarantine_commands(settings: Settings) -> None:
    async def blocked() -> Job:
        async with Engine(settings) as engine:
            return await run(engine, small_request(MARKED, model="simulated:synth-1"))

    job = asyncio.run(blocked())
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    (item,) = json.loads(invoke("quarantine", "list", "--json"))
    assert item["job_id"] == job.id and item["status"] == "held"
    assert job.id in invoke("quarantine", "list")
    shown = invoke("quarantine", "show", item["id"])
    assert "sexual 1.00" in shown and "marker" in shown
    assert "block (attempt 1); sexual 1.00; frames" in invoke("jobs", "show", job.id)
    assert "released" in invoke("quarantine", "release", item["id"])
    again = runner.invoke(cli, ["quarantine", "delete", item["id"]])
    assert again.exit_code != 0 and "released, not held" in again.output
    missing = runner.invoke(cli, ["quarantine", "show", "q_nosuch"])
    assert missing.exit_code != 0 and "no quarantined output" in missing.output


async def test_a_plan_from_before_the_scan_runs_its_attempts_without_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job checkpointed by an older release (its plan has no ``scan``) replays as it ran:
    its attempts have no scan step (DBOS would refuse a step sequence that changed)."""
    from vidgate.engine import workflow as wf

    monkeypatch.setattr(wf, "SCAN_SHAPE", {})
    async with Engine(settings) as engine:
        job = await run(engine, small_request(MARKED))
    assert job.status is JobStatus.COMPLETED and job.scan is None
    assert not any(m.startswith("scan:") for m in history(engine, job))
