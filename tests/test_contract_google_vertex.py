"""Google Veo on Vertex AI: the ``VertexProvider`` against its simulator twin.

The simulator runs on a real loopback port (0.5 s generations); the adapter is pointed there with
``VIDGATE_VERTEX_BASE_URL`` → ``/vertex``: inline bytes, create errors, status paths, GCS outputs
and configuration.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import mock_transport, poll_until
from tests.support_google import PROJECT, TOKEN, VERTEX_FAST, body_of, submission, vertex_api
from vidgate import requestlog
from vidgate.exceptions import (
    ConfigurationError,
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from vidgate.media.probe import probe
from vidgate.providers.base import TaskState, TaskStatus
from vidgate.providers.vertex import VertexProvider
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator


@pytest.fixture
async def vertex(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[VertexProvider]:
    monkeypatch.setenv("VIDGATE_VERTEX_BASE_URL", vertex_api(simulator))
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    provider = VertexProvider(settings)
    yield provider
    await provider.aclose()


# -- Vertex AI ---------------------------------------------------------------------------------


async def test_vertex_runs_to_a_verified_mp4_from_inline_bytes(
    vertex: VertexProvider,
    simulator: RunningSimulator,
    calls: list[requestlog.CallRecord],
    tmp_path: Path,
) -> None:
    created = await vertex.submit(
        submission(model=VERTEX_FAST, seed=5, audio=True, reference="job_v-1")
    )
    name = created.remote_id
    resource = (
        f"projects/{PROJECT}/locations/us-central1/publishers/google/models/"
        "veo-3.1-fast-generate-001"
    )
    assert name.startswith(resource + "/operations/")
    assert body_of(simulator, name)["parameters"] == {
        "durationSeconds": 4,
        "aspectRatio": "16:9",
        "resolution": "720p",
        "seed": 5,
        "generateAudio": True,
        "sampleCount": 1,
    }
    assert simulator.state.creates_by_reference["vertex"] == {"job_v-1": 1}
    seen = await poll_until(vertex, name)
    assert seen[0].state is TaskState.RUNNING and seen[-1].state is TaskState.SUCCEEDED
    [output] = seen[-1].outputs
    assert (output.url, output.remote_id, output.content_type) == (
        "veo-inline:0",
        name,
        "video/mp4",
    )
    dest = tmp_path / "vertex.mp4"
    await vertex.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height, info.video_codec) == (1280, 720, "h264")
    assert info.duration == pytest.approx(4.0, abs=0.05) and info.has_audio
    assert simulator.state.tasks[name.rsplit("/", 1)[-1]].spec.seed == 5
    # Polls are POSTs to fetchPredictOperation; the token is nowhere in the log.
    assert calls[0].url == vertex_api(simulator) + f"/v1/{resource}:predictLongRunning"
    assert {c.url for c in calls[1:]} == {
        vertex_api(simulator) + f"/v1/{resource}:fetchPredictOperation"
    }
    assert {c.method for c in calls} == {"POST"}
    assert all(TOKEN not in repr(c) for c in calls)
    assert await vertex.cancel(name) is False


@pytest.mark.parametrize(
    ("fault", "error", "status", "words"),
    [
        ("auth", ProviderAuthError, 401, "GOOGLE_OAUTH_ACCESS_TOKEN"),
        ("no-credits", InsufficientCredits, 403, "billing to be enabled"),
        ("429,retry-after=1.5", RateLimited, 429, "RESOURCE_EXHAUSTED"),
        ("500-create", ProviderUnavailable, 500, "INTERNAL"),
    ],
)
async def test_vertex_create_errors(
    vertex: VertexProvider,
    simulator: RunningSimulator,
    fault: str,
    error: type[ProviderError],
    status: int,
    words: str,
) -> None:
    with pytest.raises(error) as caught:
        await vertex.submit(submission(f"[sim:{fault}] a fox", model=VERTEX_FAST))
    exc = caught.value
    assert type(exc) is error and exc.status_code == status and words in exc.message
    assert TOKEN not in exc.message
    assert simulator.state.creates["vertex"] == 0
    if error is RateLimited:
        assert exc.retry_after == 1.5


async def test_vertex_status_paths(vertex: VertexProvider, tmp_path: Path) -> None:
    filtered = await vertex.submit(submission("[sim:moderation] a fox", model=VERTEX_FAST))
    status = await vertex.poll(filtered.remote_id)
    assert status.error is not None and status.error["code"] == ContentRejected.code
    assert status.error["details"]["charged"] is False
    empty = await vertex.submit(submission("[sim:missing-output] a fox", model=VERTEX_FAST))
    final = (await poll_until(vertex, empty.remote_id))[-1]
    assert final.error is not None and final.error["details"]["provider_code"] == "missing_output"
    failed = await vertex.submit(submission("[sim:fail] a fox", model=VERTEX_FAST))
    final = (await poll_until(vertex, failed.remote_id))[-1]
    assert final.error is not None and final.error["code"] == GenerationFailed.code
    # 500-download: the first read carrying the video's bytes (Vertex's download) answers 500.
    flaky = await vertex.submit(submission("[sim:500-download] a fox", model=VERTEX_FAST))

    def not_running(s: TaskStatus) -> bool:
        return s.state is not TaskState.RUNNING

    with pytest.raises(ProviderUnavailable):
        await poll_until(vertex, flaky.remote_id, not_running)
    final = (await poll_until(vertex, flaky.remote_id))[-1]
    await vertex.download(final.outputs[0], tmp_path / "flaky.mp4")
    assert probe(tmp_path / "flaky.mp4").duration == pytest.approx(4.0, abs=0.05)


async def test_vertex_gcs_outputs_are_a_clear_error(
    vertex: VertexProvider, simulator: RunningSimulator, tmp_path: Path
) -> None:
    resource = (
        f"projects/{PROJECT}/locations/us-central1/publishers/google/models/veo-3.1-generate-001"
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {
        "instances": [{"prompt": "a fox"}],
        "parameters": {"durationSeconds": 4, "storageUri": "gs://bucket/out/"},
    }
    created = httpx.post(
        f"{vertex_api(simulator)}/v1/{resource}:predictLongRunning", json=body, headers=headers
    )
    assert created.status_code == 200
    name = created.json()["name"]
    final = (await poll_until(vertex, name))[-1]
    [output] = final.outputs
    assert output.url.startswith("gs://bucket/out/") and output.url.endswith("sample_0.mp4")
    with pytest.raises(ConfigurationError, match="Cloud Storage"):
        await vertex.download(output, tmp_path / "gcs.mp4")
    # The twin checks that the operation belongs to the model in the path.
    other = resource.replace("veo-3.1-generate-001", "veo-3.1-fast-generate-001")
    wrong = httpx.post(
        f"{vertex_api(simulator)}/v1/{other}:fetchPredictOperation",
        json={"operationName": name},
        headers=headers,
    )
    assert wrong.status_code == 400
    anonymous = httpx.post(
        f"{vertex_api(simulator)}/v1/{resource}:fetchPredictOperation", json={"operationName": name}
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_vertex_configuration(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    import vidgate.providers.google as module

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": "projects/p/locations/global/x/operations/1"})

    mock_transport(monkeypatch, module, answer)
    monkeypatch.delenv("VIDGATE_VERTEX_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    provider = VertexProvider(settings)
    try:
        # Service-account credentials alone: a clear refusal, nothing sent.
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/tmp/sa.json")
        with pytest.raises(ConfigurationError, match="google-auth"):
            await provider.submit(submission(model=VERTEX_FAST))
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
            await provider.submit(submission(model=VERTEX_FAST))
        assert seen == []
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
        await provider.submit(submission(model=VERTEX_FAST))
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "global")
        await provider.submit(submission(model=VERTEX_FAST))
        # A poll goes to the operation's own region, whatever is configured now.
        status = await provider.poll(
            "projects/p/locations/europe-west4/publishers/google/models/"
            "veo-3.1-generate-001/operations/9"
        )
    finally:
        await provider.aclose()
    assert status.poll_after == 10.0
    urls = [str(r.url) for r in seen]
    assert urls == [
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
        "publishers/google/models/veo-3.1-fast-generate-001:predictLongRunning",
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
        "publishers/google/models/veo-3.1-fast-generate-001:predictLongRunning",
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/"
        "publishers/google/models/veo-3.1-generate-001:fetchPredictOperation",
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)
    assert json.loads(seen[-1].content) == {
        "operationName": "projects/p/locations/europe-west4/publishers/google/models/"
        "veo-3.1-generate-001/operations/9"
    }
