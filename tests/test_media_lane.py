"""The media lane: validation and thumbnails in a bounded pool of processes, off the event loop.

Real processes (spawned), real files, the real engine on SQLite. Waits are bounded; the order of
work in the lane is judged by the start and end times the child processes record themselves.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import small_request
from tests.support import run_job, until
from vidgate.engine import Engine
from vidgate.exceptions import MediaUnreadable
from vidgate.media.lane import MediaLane, inspect_file, thumbnail_file, unpack
from vidgate.media.synth import SynthSpec, render
from vidgate.settings import Settings
from vidgate.types import JobStatus, Phase


def hold(started: str, release: str) -> dict[str, Any]:
    """Lane work that keeps its process busy until ``release`` exists (at most 30 s)."""
    began = time.time()
    Path(started).write_text(str(os.getpid()))
    deadline = time.monotonic() + 30
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"pid": os.getpid(), "started": began, "ended": time.time()}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lane") / "clip.mp4"
    render(SynthSpec(prompt="a fox", seed=3, fps=24, duration=2.0, width=640, height=360), path)
    return path


@pytest.fixture
async def lane() -> AsyncIterator[MediaLane]:
    running = MediaLane(1)
    try:
        yield running
    finally:
        running.shutdown()


async def test_one_worker_runs_validations_one_after_the_other(
    lane: MediaLane, clip: Path, tmp_path: Path
) -> None:
    queued: list[int] = []
    first, second = await asyncio.gather(
        lane.run(inspect_file, str(clip), str(tmp_path / "a.jpg")),
        lane.run(inspect_file, str(clip), str(tmp_path / "b.jpg"), on_queue=queued.append),
    )
    assert unpack(first)["info"]["frame_count"] == 48
    assert unpack(second)["info"] == unpack(first)["info"]
    # In a child process, not here; and the second started only after the first had ended.
    assert first["pid"] != os.getpid()
    assert second["started"] >= first["ended"]
    assert queued == [0]  # the second call waited, with nobody ahead of it
    assert (tmp_path / "a.jpg").is_file() and (tmp_path / "b.jpg").is_file()
    assert lane.waiting == 0 and lane.running == 0


async def test_two_workers_take_two_calls_at_once(clip: Path, tmp_path: Path) -> None:
    lane = MediaLane(2)
    try:
        started, release = tmp_path / "started", tmp_path / "release"
        busy = asyncio.ensure_future(lane.run(hold, str(started), str(release)))
        await until(lambda: _exists(started), what="the holding call to start")
        queued: list[int] = []
        # The second process is free: this call neither waits nor queues behind the first.
        result = await lane.run(inspect_file, str(clip), None, on_queue=queued.append)
        assert queued == [] and unpack(result)["info"]["width"] == 640
        release.touch()
        held = await busy
        assert held["ended"] >= result["ended"]
    finally:
        lane.shutdown()


async def test_a_corrupt_file_is_rejected_through_the_lane(
    lane: MediaLane, clip: Path, tmp_path: Path
) -> None:
    # The simulator's corrupt fault: a block in the middle of the media data zeroed.
    data = bytearray(clip.read_bytes())
    start, end = int(len(data) * 0.4), int(len(data) * 0.7)
    data[start:end] = bytes(end - start)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(data))
    result = await lane.run(inspect_file, str(corrupt), str(tmp_path / "thumb.jpg"))
    with pytest.raises(MediaUnreadable, match="corrupt") as caught:
        unpack(result)
    assert caught.value.details["path"] == str(corrupt)
    assert not (tmp_path / "thumb.jpg").exists()
    result = await lane.run(thumbnail_file, str(tmp_path / "missing.mp4"), str(tmp_path / "t.jpg"))
    with pytest.raises(MediaUnreadable, match="no such file"):
        unpack(result)


async def test_the_lane_makes_a_thumbnail_on_its_own(
    lane: MediaLane, clip: Path, tmp_path: Path
) -> None:
    # What the thumbnail step does when the output was fetched again on another host.
    out = tmp_path / "thumbnail.jpg"
    assert unpack(await lane.run(thumbnail_file, str(clip), str(out)))["size"] == [640, 360]
    assert out.read_bytes()[:2] == b"\xff\xd8"


async def test_a_dead_media_process_is_replaced(lane: MediaLane, clip: Path) -> None:
    with pytest.raises(MediaUnreadable, match="died twice"):
        await lane.run(os._exit, 3)
    # The lane started a fresh pool and goes on working.
    assert unpack(await lane.run(inspect_file, str(clip), None))["info"]["height"] == 360


def test_the_lane_size_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_MEDIA_WORKERS", "3")
    assert Settings().resolved_media_workers == 3
    monkeypatch.delenv("VIDGATE_MEDIA_WORKERS")
    assert Settings().resolved_media_workers == max(1, (os.cpu_count() or 1) - 1)
    monkeypatch.setenv("VIDGATE_MEDIA_WORKERS", "0")
    with pytest.raises(ValueError, match="media_workers"):
        Settings()


# -- through the engine ------------------------------------------------------------------------


@pytest.fixture
async def engine(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_MEDIA_WORKERS", "1")
    async with Engine(Settings()) as running:
        yield running


async def test_a_job_is_validated_in_the_lane_and_completes(engine: Engine) -> None:
    done = await run_job(engine, small_request(seed=5))
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.output is not None and done.output.media is not None
    assert done.output.media.frame_count == 24
    assert done.thumbnail is not None
    assert Path(done.thumbnail.uri).read_bytes()[:2] == b"\xff\xd8"
    lane = engine.runtime.media_lane()
    assert lane.workers == 1 and lane.running == 0


async def test_a_corrupt_output_is_rejected_through_the_lane(engine: Engine) -> None:
    done = await run_job(engine, small_request("[simulate:corrupt] a fox"))
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "media_unreadable"


async def test_a_job_waits_in_line_for_a_busy_lane(engine: Engine, tmp_path: Path) -> None:
    lane = engine.runtime.media_lane()
    started, release = tmp_path / "started", tmp_path / "release"
    busy = asyncio.ensure_future(lane.run(hold, str(started), str(release)))
    await until(lambda: _exists(started), what="the holding call to start")
    job = await engine.submit(small_request(seed=9))

    async def queued() -> bool:
        return any("waiting for the media lane" in e.message for e in engine.events(job.id))

    try:
        await until(queued, timeout=30, what="the job to queue for the media lane")
        waiting = engine.get(job.id)
        assert waiting.status is JobStatus.IN_PROGRESS and waiting.phase is Phase.VALIDATING
    finally:
        release.touch()
    held = await busy
    done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)
    assert done.status is JobStatus.COMPLETED, done.error
    line = next(e for e in engine.events(job.id) if "waiting for the media lane" in e.message)
    assert line.message == "waiting for the media lane (1 busy, 0 ahead)"
    # The job's validation ran after the holding call had left the one lane process.
    validated = [e.at for e in engine.events(job.id) if e.phase is Phase.THUMBNAILING]
    assert validated and validated[0].timestamp() >= held["ended"]


async def _exists(path: Path) -> bool:
    return path.exists()
