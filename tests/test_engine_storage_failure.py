"""Storage that cannot take the output (a full disk, a broken mount): the job fails with
``storage_error`` instead of staying ``in_progress`` for ever (``bench/chaos.py full-disk`` found
every job stuck in ``storing`` with its workflow ended in ERROR)."""

from __future__ import annotations

import asyncio

from tests.conftest import small_request
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.types import JobStatus


async def test_a_job_whose_output_cannot_be_stored_fails_with_storage_error() -> None:
    settings = Settings()
    settings.ensure_dirs()
    # A file where the videos folder should be: every store fails with an OSError, as on a
    # full disk.
    (settings.resolved_storage_dir / "videos").write_bytes(b"not a folder")
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("a fox with nowhere to go"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "storage_error", done.error
    assert "could not store" in done.error.message
