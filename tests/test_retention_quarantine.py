"""Retention and deletion through the engine on S3 storage (SQLite and PostgreSQL): delivered
files expired by kind; quarantined outputs held apart in the bucket, released by a server-side
copy, expired by the sweep, and gone with their video when it is deleted."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from tests.conftest import small_request
from tests.s3_support import Bucket
from tests.support import until
from vidgate.engine import Engine, retention
from vidgate.exceptions import JobNotFound, StorageError
from vidgate.settings import Settings
from vidgate.storage.s3 import S3Storage
from vidgate.types import Job, JobStatus

pytestmark = pytest.mark.usefixtures("backend")  # SQLite, and PostgreSQL where CI has it

MARKED = "[simulate:unsafe-output] a fox"


async def _held(engine: Engine) -> Job:
    job = await engine.submit(small_request(MARKED, model="simulated:synth-1"))
    done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=120)
    assert done.status is JobStatus.FAILED and done.scan is not None
    return done


async def test_release_copies_the_held_output_inside_the_bucket(s3_bucket: Bucket) -> None:
    async with Engine(Settings()) as engine:
        job = await _held(engine)
        assert s3_bucket.object_keys() == [
            f"media/quarantine/{job.id}/1.jpg",
            f"media/quarantine/{job.id}/1.mp4",
        ]
        (item,) = await engine.quarantine.list()
        await engine.quarantine.release(item.id, by="admin", wait=True)
        job = engine.get(job.id)
        assert job.status is JobStatus.COMPLETED and job.output is not None
        # Released, it is delivered like any completed job: the original kept apart (the held
        # bytes), the browser-safe video made from it.
        assert s3_bucket.object_keys() == [
            f"media/originals/{job.id}.mp4",
            f"media/thumbnails/{job.id}.jpg",
            f"media/videos/{job.id}.mp4",
        ]
        original = next(a for a in job.assets if a.kind == "original")
        stored = engine.stored_file(original, check=True)
        assert stored is not None and stored.size_bytes == item.size_bytes
        assert engine.stored_file(job.output, check=True) is not None


async def test_the_sweep_expires_held_outputs(s3_bucket: Bucket) -> None:
    async with Engine(Settings(retention_quarantine_days=1)) as engine:
        job = await _held(engine)
        rt = engine.runtime
        assert retention.sweep(rt, now=engine.clock() + timedelta(hours=23)).quarantined == []
        usage = {r.kind: r for r in engine.storage_usage()}
        assert usage["quarantine"].objects == 1 and usage["quarantine"].bytes > 0
        dry = retention.sweep(rt, now=engine.clock() + timedelta(days=1, minutes=1), dry_run=True)
        assert [q["job_id"] for q in dry.quarantined] == [job.id] and len(
            s3_bucket.object_keys()
        ) == 2
        report = retention.sweep(rt, now=engine.clock() + timedelta(days=1, minutes=1))
        assert report.objects_deleted == 2 and s3_bucket.object_keys() == []
        (item,) = await engine.quarantine.list(status="deleted")
        assert item.resolved_by == "retention"
        assert "quarantine" not in {r.kind for r in engine.storage_usage()}


async def test_deleting_a_video_deletes_its_held_output(s3_bucket: Bucket) -> None:
    async with Engine(Settings()) as engine:
        job = await _held(engine)
        await engine.delete(job.id)
        assert s3_bucket.object_keys() == []
        (item,) = await engine.quarantine.list(status="deleted")
        assert item.job_id == job.id


async def test_the_sweep_expires_delivered_files_by_kind(s3_bucket: Bucket) -> None:
    settings = Settings(retention_originals_days=1, retention_renditions_days=3)
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a kite"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=120)
        assert done.status is JobStatus.COMPLETED
        assert len(s3_bucket.object_keys()) == 3  # the original, the delivered video, the still
        rt = engine.runtime
        assert retention.sweep(rt, now=engine.clock() + timedelta(hours=23)).assets == []
        report = retention.sweep(rt, now=engine.clock() + timedelta(days=2))
        assert sorted(a["kind"] for a in report.assets) == ["original", "video"]
        assert report.objects_deleted == 2
        assert s3_bucket.object_keys() == [f"media/thumbnails/{job.id}.jpg"]
        job = engine.get(job.id)
        assert job.output is not None and job.output.deleted_at is not None
        assert engine.stored_file(job.output) is None
        await engine.delete(job.id)  # the rest goes with the video
        assert s3_bucket.object_keys() == []


async def test_the_sweeper_loop_runs_every_interval(s3_bucket: Bucket) -> None:
    # Kept for about a tenth of a millisecond, swept every 50 ms: the loop `vidgate serve` runs.
    settings = Settings(
        retention_originals_days=1e-9, retention_renditions_days=1e-9, retention_interval=0.05
    )
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a kite"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=120)
        assert done.status is JobStatus.COMPLETED
        sweeper = asyncio.create_task(engine.retention_loop())
        try:
            await until(lambda: _empty(s3_bucket), 30, what="the sweeper to empty the bucket")
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        assert engine.get(job.id).output.deleted_at is not None  # type: ignore[union-attr]


async def _empty(bucket: Bucket) -> bool:
    return await asyncio.to_thread(bucket.object_keys) == []


async def test_a_delete_that_storage_refused_can_be_tried_again(s3_bucket: Bucket) -> None:
    async with Engine(Settings()) as engine:
        job = await engine.submit(small_request("a kite"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=120)
        assert done.status is JobStatus.COMPLETED
        rt = engine.runtime
        working = rt.storage
        # The same server, a bucket that is not there: every delete is refused (NoSuchBucket).
        rt.storage = S3Storage("no-such-bucket", "media/", endpoint_url=s3_bucket.endpoint)
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await engine.delete(job.id)
        rt.storage = working
        assert engine.get(job.id).id == job.id, "still visible: the delete did not finish"
        assert engine.stored_file(engine.get(job.id).output) is None  # type: ignore[arg-type]
        await engine.delete(job.id)
        assert s3_bucket.object_keys() == []
        with pytest.raises(JobNotFound):
            engine.get(job.id)
