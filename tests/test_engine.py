"""The durable job engine, end to end on the simulated provider and a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import small_request
from vidgate.engine import Engine
from vidgate.exceptions import IdempotencyConflict, InvalidRequest, UnsupportedRequest
from vidgate.media.probe import probe
from vidgate.settings import Settings
from vidgate.types import AttemptStatus, JobStatus, Phase, VideoRequest

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


def small(prompt: str = "a red fox in snow", **fields: object) -> VideoRequest:
    return small_request(prompt, **{"aspect_ratio": "9:16", **fields})


async def test_a_job_runs_from_prompt_to_stored_verified_video(engine: Engine) -> None:
    job = await engine.submit(small(seed=7))
    assert job.status is JobStatus.QUEUED
    seen = [(snap.phase, snap.progress) async for snap in engine.watch(job.id, interval=0.02)]
    done = engine.get(job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.progress == 100 and done.phase is Phase.DONE
    assert done.provider == "simulated" and done.model == "synth-1"
    assert done.cost_usd == 0
    # The stored file is a real 1 s 9:16 H.264 video, as an independent probe confirms.
    assert done.output is not None and done.thumbnail is not None
    info = probe(Path(done.output.uri))
    assert (info.width, info.height, info.video_codec) == (360, 640, "h264")
    assert info.duration == pytest.approx(1.0, abs=1e-3)
    assert done.output.media is not None and done.output.media.width == 360
    assert Path(done.thumbnail.uri).read_bytes()[:2] == b"\xff\xd8"  # JPEG
    # One attempt, succeeded, with the remote task id recorded.
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.SUCCEEDED and attempt.remote_id
    # Progress only goes forward, and the history names every phase.
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses)
    phases = [e.phase for e in engine.events(job.id)]
    for phase in (Phase.ROUTING, Phase.SUBMITTING, Phase.GENERATING, Phase.DOWNLOADING):
        assert phase in phases
    for phase in (Phase.VALIDATING, Phase.THUMBNAILING, Phase.STORING, Phase.DONE):
        assert phase in phases
    # Every provider operation is in the request log against this job.
    calls = engine.calls(job.id)
    urls = [c.url for c in calls]
    assert urls[0] == f"simulated://tasks/{attempt.remote_id}/create"
    assert f"simulated://tasks/{attempt.remote_id}/status" in urls
    assert urls[-1] == f"simulated://tasks/{attempt.remote_id}/content"
    # The scratch copy is gone once the job is stored.
    assert not (engine.settings.work_dir / job.id).exists()


@pytest.mark.parametrize(
    ("prompt", "code", "outcome"),
    [
        ("[simulate:fail] a fox", "generation_failed", "terminal"),
        ("[simulate:moderation] a fox", "content_rejected", "content_rejected"),
        ("[simulate:moderation-output] a fox", "content_rejected", "content_rejected"),
        ("[simulate:wrong-duration] a fox", "output_mismatch", "terminal"),
        ("[simulate:corrupt] a fox", "media_unreadable", "terminal"),
    ],
)
async def test_failures_end_the_job_with_a_stable_code(
    engine: Engine, prompt: str, code: str, outcome: str
) -> None:
    job = await engine.wait((await engine.submit(small(prompt))).id, interval=0.02)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.code == code
    assert job.error.outcome.value == outcome
    assert job.output is None
    assert job.attempts, "the failure is recorded against an attempt"
    if code == "output_mismatch":
        assert "duration" in job.error.message


async def test_deadline_cancels_the_remote_task(engine: Engine) -> None:
    job = await engine.submit(small("[simulate:hang] a fox", deadline_seconds=0.5))
    done = await engine.wait(job.id, interval=0.02)
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "timeout"
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.FAILED
    methods = [c.url.rsplit("/", 1)[-1] for c in engine.calls(job.id)]
    assert "cancel" in methods


async def test_idempotency_key_maps_to_one_job(engine: Engine) -> None:
    first = await engine.submit(small(idempotency_key="k1"))
    again = await engine.submit(small(idempotency_key="k1"))
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict, match=first.id):
        await engine.submit(small("a different prompt", idempotency_key="k1"))
    await engine.wait(first.id, interval=0.02)
    assert len(engine.list_jobs()) == 1


async def test_bad_input_is_refused_before_a_job_exists(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="image file not found"):
        await engine.submit(small(image=str(tmp_path / "missing.png")))
    with pytest.raises(UnsupportedRequest, match=r"duration 0\.7 s is not offered"):
        await engine.submit(small(duration=0.7))
    assert engine.list_jobs() == []


async def test_detached_job_is_run_by_a_worker(settings: Settings) -> None:
    queued = Engine(settings).enqueue(small())
    async with Engine(settings, worker=True) as worker:
        done = await worker.wait(queued.id, interval=0.02)
    assert done.status is JobStatus.COMPLETED, done.error


async def test_image_input_becomes_the_first_frame(engine: Engine, tmp_path: Path) -> None:
    import av
    from PIL import Image

    red = tmp_path / "red.png"
    Image.new("RGB", (64, 64), (255, 0, 0)).save(red)
    job = await engine.wait((await engine.submit(small(image=str(red)))).id, interval=0.02)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.request.image == str(red.resolve())
    assert job.output is not None
    with av.open(job.output.uri) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    r, g, b = (first[..., i].mean() for i in range(3))
    assert r > 150 and g < 100 and b < 100, "the first frame is the given image"


def test_models_that_follow_the_first_image_are_held_to_its_shape(tmp_path: Path) -> None:
    from PIL import Image

    from vidgate.catalog import load_catalog
    from vidgate.providers.registry import provider_class
    from vidgate.providers.simulated import SimulatedProvider

    catalog = load_catalog()
    follows = next(m for m in catalog if m.wire.get("aspect_ratio_from_image"))
    plain = catalog.get("simulated:synth-1")
    adapter = provider_class(follows.provider)(Settings())  # the provider answers, not the engine
    square = tmp_path / "square.png"
    Image.new("RGB", (512, 512)).save(square)
    duration = follows.default_duration
    request = VideoRequest(prompt="x", image=str(square), duration=duration, aspect_ratio="16:9")
    held = adapter.expected_output(request, follows)
    assert (held.aspect_ratio, held.width, held.height) == ("512:512", None, None)
    by_url = request.model_copy(update={"image": "https://example.com/a.png"})
    assert adapter.expected_output(by_url, follows).aspect_ratio is None  # cannot tell: not held
    simulated = SimulatedProvider(Settings())
    asked = simulated.expected_output(request.model_copy(update={"duration": 2}), plain)
    assert (asked.aspect_ratio, asked.width, asked.height) == ("16:9", 1280, 720)


def test_an_unset_duration_takes_the_shortest_the_model_offers_from_5_s(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "k")  # admission only: nothing is sent anywhere
    engine = Engine(settings)
    job = engine.enqueue(VideoRequest(prompt="a fox", providers=("google",)))
    model = engine.runtime.catalog.get(f"{job.provider}:{job.model}")
    # Veo offers 4, 6 and 8 s (8 s is its default, and its most expensive): 6 s is picked.
    assert job.provider == "google" and model.durations == [4, 6, 8]
    assert job.request.duration == 6
    with pytest.raises(UnsupportedRequest, match=r"duration 5 s is not offered"):
        engine.enqueue(VideoRequest(prompt="a fox", duration=5, providers=("google",)))
