"""Google Veo end to end: the official ``google-genai`` 2.x client, the job engine and the CLI
against the simulator twin, and the real APIs.

The client is unmodified but for its base URL. The ``live`` tests at the end call the real APIs
and skip without credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from typer.testing import CliRunner

from tests.conftest import live_key
from tests.support import (
    completed_video,
    creates_after_429,
    poll_until,
    run_job,
    stopped_uncertain,
    wait_until,
)
from tests.support_google import (
    FAST,
    KEY,
    PROJECT,
    TOKEN,
    VERTEX_FAST,
    body_of,
    gemini_api,
    submission,
    vertex_api,
)
from vidgate.engine import Engine
from vidgate.exceptions import UnsupportedRequest
from vidgate.media.probe import probe
from vidgate.providers.base import TaskState
from vidgate.providers.google import GoogleProvider
from vidgate.providers.vertex import VertexProvider
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import AttemptStatus, JobStatus, VideoRequest

# -- the official client, unmodified but for its base URL --------------------------------------


def sdk_client(simulator: RunningSimulator, **headers: str) -> genai.Client:
    options = genai_types.HttpOptions(base_url=gemini_api(simulator) + "/", headers=headers or None)
    return genai.Client(api_key="k", http_options=options)


def test_the_official_client_runs_a_video_end_to_end(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    client = sdk_client(simulator)
    operation = client.models.generate_videos(
        model="veo-3.1-fast-generate-preview",
        source=genai_types.GenerateVideosSource(prompt="a cat surfing"),
        config=genai_types.GenerateVideosConfig(
            duration_seconds=4,
            resolution="720p",
            aspect_ratio="9:16",
            negative_prompt="rain",
            person_generation="allow_all",
            number_of_videos=1,
        ),
    )
    if not operation.done:
        started = operation
        operation = wait_until(
            lambda: (read := client.operations.get(started)).done and read,
            20,
            interval=0.05,
            what="the operation finishing",
        )
    assert operation.error is None and operation.response is not None
    [generated] = operation.response.generated_videos or []
    assert generated.video is not None and generated.video.uri
    # The SDK downloads by file name (its uri parser wants https://); the uri works too.
    file_id = generated.video.uri.split("/files/", 1)[1].split(":", 1)[0]
    data = client.files.download(file=f"files/{file_id}")
    (tmp_path / "sdk.mp4").write_bytes(data)
    info = probe(tmp_path / "sdk.mp4")
    assert (info.container, info.width, info.height) == ("mp4", 720, 1280)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    direct = httpx.get(generated.video.uri, headers={"x-goog-api-key": "k"}, follow_redirects=True)
    assert direct.content == data
    received = body_of(simulator, operation.name or "")
    assert received["parameters"] == {
        "durationSeconds": 4,
        "aspectRatio": "9:16",
        "resolution": "720p",
        "negativePrompt": "rain",
        "personGeneration": "allow_all",
        "sampleCount": 1,
    }
    assert simulator.state.creates["google"] == 1


def test_the_official_client_sees_googles_errors(simulator: RunningSimulator) -> None:
    client = sdk_client(simulator)
    with pytest.raises(genai_errors.ClientError) as bad:
        client.models.generate_videos(
            model="veo-3.1-generate-preview",
            source=genai_types.GenerateVideosSource(prompt="a fox"),
            config=genai_types.GenerateVideosConfig(duration_seconds=4, resolution="1080p"),
        )
    assert bad.value.code == 400 and bad.value.status == "INVALID_ARGUMENT"
    assert "8 seconds" in (bad.value.message or "")
    denied = sdk_client(simulator, **{"X-Simulator-Fault": "auth"})
    with pytest.raises(genai_errors.ClientError) as key:
        denied.operations.get(
            genai_types.GenerateVideosOperation.model_validate(
                {"name": "models/veo-3.1-generate-preview/operations/x"}
            )
        )
    assert key.value.code == 400 and "API key not valid" in (key.value.message or "")
    # No retries by default: the 429 reaches the caller, with Google's status.
    with pytest.raises(genai_errors.ClientError) as limited:
        client.models.generate_videos(
            model="veo-3.1-generate-preview",
            source=genai_types.GenerateVideosSource(prompt="[sim:429] a fox"),
            config=genai_types.GenerateVideosConfig(duration_seconds=4),
        )
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert simulator.state.creates["google"] == 0


# -- through the job engine and the CLI --------------------------------------------------------


@pytest.fixture
async def engine(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", gemini_api(simulator))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("VIDGATE_VERTEX_BASE_URL", vertex_api(simulator))
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    async with Engine(settings) as running:
        yield running


async def test_a_job_on_google_completes_with_a_verified_output(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt="a red fox in snow", duration=4, providers=("google",))
    done = await run_job(engine, request)
    assert completed_video(done, (1280, 720), 4.0).has_audio
    assert (done.provider, done.model) == ("google", "veo-3.1-fast-generate-preview")
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.SUCCEEDED
    assert attempt.remote_id is not None and attempt.remote_id.startswith("models/")
    assert simulator.state.creates_by_reference["google"] == {attempt.reference: 1}
    urls = [c.url for c in engine.calls(done.id)]
    assert urls[0] == gemini_api(simulator) + (
        "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning"
    )
    assert gemini_api(simulator) + f"/v1beta/{attempt.remote_id}" in urls
    assert all(KEY not in repr(c) for c in engine.calls(done.id))


async def test_a_job_on_vertex_completes_with_a_verified_output(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt="a red fox in snow", duration=4, providers=("vertex",))
    done = await run_job(engine, request)
    completed_video(done, (1280, 720), 4.0)
    assert done.provider == "vertex"
    assert all(TOKEN not in repr(c) for c in engine.calls(done.id))


async def test_a_429_is_sent_again_after_retry_delay_and_creates_once(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(
        prompt="[sim:429,retry-after=0.2] a red fox", duration=4, providers=("google",)
    )
    done = await run_job(engine, request)
    creates = creates_after_429(engine, done, simulator, "google")
    assert creates == [429, 200]
    history = [e.message for e in engine.events(done.id)]
    assert any("rate_limited" in m and "retry in 0.2 s" in m for m in history)


async def test_an_ambiguous_create_stops_the_job_after_one_create(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(
        prompt="[sim:500-after-create] a red fox", duration=4, providers=("google",)
    )
    done = await run_job(engine, request)
    attempt = stopped_uncertain(done)
    assert attempt.reference in done.error.message
    assert simulator.state.creates["google"] == 1


async def test_an_rai_filtered_job_fails_as_content_rejected(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt="[sim:moderation] a red fox", duration=4, model=FAST)
    done = await run_job(engine, request)
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "content_rejected"
    assert done.cost_usd in (None, 0)  # RAI-filtered videos are not billed


async def test_a_job_google_cannot_render_is_refused_before_any_call(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt="a fox", duration=4, resolution="1080p", model=FAST)
    with pytest.raises(UnsupportedRequest, match="8-second") as refused:
        await engine.submit(request)
    # ...naming the models that can (Vertex is not documented to have the rule).
    assert "vertex:veo-3.1-fast-generate-001" in refused.value.details["alternatives"]
    assert simulator.state.requests == {}


def test_the_cli_generates_on_google_against_the_simulator(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from vidgate.cli import app

    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    out = tmp_path / "veo.mp4"
    result = CliRunner().invoke(
        app, ["generate", "a paper boat", "--provider", "google", "-d", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    info = probe(out, decode=True)
    assert (info.width, info.height) == (1280, 720)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert "google:veo-3.1-fast-generate-preview" in result.stdout
    assert simulator.state.creates["google"] == 1


# -- the real APIs -----------------------------------------------------------------------------


async def _live_run(provider: GoogleProvider | VertexProvider, model: str, tmp_path: Path) -> None:
    try:
        created = await provider.submit(
            submission("a paper boat drifting on a calm pond", model=model)
        )
        # At Veo's own pace: the docs' polling loop reads every 10 s.
        seen = await poll_until(provider, created.remote_id, timeout=900, interval=10.0)
        assert all(s.poll_after == 10.0 for s in seen)
        status = seen[-1]
        assert status.state is TaskState.SUCCEEDED, status.error
        dest = tmp_path / "live.mp4"
        await provider.download(status.outputs[0], dest)
        info = probe(dest, decode=True)
        assert info.duration == pytest.approx(4.0, abs=0.3)
        assert info.width / info.height == pytest.approx(16 / 9, rel=0.02)
    finally:
        await provider.aclose()


@pytest.mark.live
async def test_live_gemini_generates_a_clip(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    """Costs about $0.60: Veo 3.1 Fast, 4 s at 720p ($0.15/s, unconfirmed)."""
    monkeypatch.setenv("GEMINI_API_KEY", live_key("GEMINI_API_KEY"))
    monkeypatch.delenv("VIDGATE_GEMINI_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    await _live_run(GoogleProvider(settings), FAST, tmp_path)


@pytest.mark.live
async def test_live_vertex_generates_a_clip(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    """Costs about $0.60: Veo 3.1 Fast on Vertex, 4 s at 720p, silent."""
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", live_key("GOOGLE_OAUTH_ACCESS_TOKEN"))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", live_key("GOOGLE_CLOUD_PROJECT"))
    monkeypatch.delenv("VIDGATE_VERTEX_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    await _live_run(VertexProvider(settings), VERTEX_FAST, tmp_path)
