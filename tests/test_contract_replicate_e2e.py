"""Replicate end to end: the job engine, the CLI and the official ``replicate`` client against the
simulator twin, and the real API.

The client is unmodified but for its base URL. The ``live`` test at the end calls the real API
and skips without a token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import replicate
from typer.testing import CliRunner

from tests.conftest import live_key, poll_live
from tests.support import completed_video, creates_after_429, run_job
from tests.support_replicate import KEY, api, submission
from vidgate.engine import Engine
from vidgate.media.probe import probe
from vidgate.providers.base import TaskState
from vidgate.providers.replicate import ReplicateProvider
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import AttemptStatus, JobStatus, VideoRequest

# -- through the job engine and the CLI --------------------------------------------------------


@pytest.fixture
async def engine(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_REPLICATE_BASE_URL", api(simulator))
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    async with Engine(settings) as running:
        yield running


def small_job(prompt: str = "a red fox in snow") -> VideoRequest:
    return VideoRequest(prompt=prompt, duration=2, resolution="480p", providers=("replicate",))


async def test_a_job_on_replicate_completes_with_a_verified_output(
    engine: Engine, simulator: RunningSimulator
) -> None:
    done = await run_job(engine, small_job())
    completed_video(done, (854, 480), 2.0)
    assert (done.provider, done.model) == ("replicate", "bytedance/seedance-1-pro")
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.SUCCEEDED and attempt.remote_id in simulator.state.tasks
    assert simulator.state.creates_by_reference["replicate"] == {attempt.reference: 1}
    urls = [c.url for c in engine.calls(done.id)]
    assert urls[0] == api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
    assert api(simulator) + f"/v1/predictions/{attempt.remote_id}" in urls
    assert all(KEY not in repr(c) for c in engine.calls(done.id))


async def test_an_ambiguous_create_is_reconciled_by_lookup_with_one_create(
    engine: Engine, simulator: RunningSimulator
) -> None:
    done = await run_job(engine, small_job("[sim:500-after-create] a red fox"))
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert simulator.state.creates_by_reference["replicate"] == {attempt.reference: 1}
    assert simulator.state.creates["replicate"] == 1
    methods = [(c.method, c.status_code) for c in engine.calls(done.id)]
    assert methods[0] == ("POST", 500) and ("GET", 200) in methods
    assert not [m for m in methods[1:] if m[0] == "POST"], "never created again"


async def test_a_429_is_sent_again_after_retry_after_and_creates_once(
    engine: Engine, simulator: RunningSimulator
) -> None:
    done = await run_job(engine, small_job("[sim:429,retry-after=0.2] a red fox"))
    creates = creates_after_429(engine, done, simulator, "replicate")
    assert creates[0] == 429 and creates[1] in (201, 202)


def test_vidgate_generate_with_provider_replicate(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from vidgate.cli import app

    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    out = tmp_path / "fox.mp4"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "a red fox",
            "--provider",
            "replicate",
            "--duration",
            "2",
            "--resolution",
            "480p",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "completed"
    assert job["attempts"][0]["provider"] == "replicate"
    info = probe(out, decode=True)
    assert (info.width, info.height) == (854, 480)
    assert simulator.state.creates["replicate"] == 1


# -- the official client, unmodified but for its base URL ------------------------------------


def test_the_official_client_runs_a_prediction_end_to_end(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    client = replicate.Client(api_token="r8_x", base_url=api(simulator))
    prediction = client.predictions.create(
        model="bytedance/seedance-1-pro",
        input={
            "prompt": "a cat surfing",
            "duration": 2,
            "resolution": "480p",
            "aspect_ratio": "9:16",
        },
    )
    assert prediction.status == "starting" and prediction.version == "hidden"
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.progress is not None and prediction.progress.percentage == 1.0
    assert prediction.metrics and prediction.metrics["predict_time"] > 0
    video = httpx.get(prediction.output)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    (tmp_path / "sdk.mp4").write_bytes(video.content)
    info = probe(tmp_path / "sdk.mp4")
    assert (info.width, info.height) == (480, 854)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    # The models namespace, reload, cancel, run() (Prefer: wait) and the secret endpoint.
    again = client.models.predictions.create(
        model="bytedance/seedance-1-pro", input={"prompt": "[sim:hang] x", "duration": 2}
    )
    again.reload()
    assert again.status in ("starting", "processing")
    again.cancel()
    assert again.status == "canceled"
    output = client.run(
        "bytedance/seedance-1-pro", input={"prompt": "a dog", "duration": 2, "resolution": "480p"}
    )
    assert str(output).startswith(simulator.url + "/_simulator/files/")
    assert client.webhooks.default.secret().key.startswith("whsec_")
    assert simulator.state.creates["replicate"] == 3


def test_the_official_client_sees_replicate_errors(simulator: RunningSimulator) -> None:
    client = replicate.Client(api_token="r8_x", base_url=api(simulator))
    with pytest.raises(replicate.exceptions.ReplicateError) as bad:
        client.predictions.create(model="google/veo-3.1", input={"prompt": "x", "duration": 5})
    assert bad.value.status == 422 and bad.value.title == "Input validation failed"
    assert "input.duration" in (bad.value.detail or "")
    with pytest.raises(replicate.exceptions.ReplicateError) as broke:
        client.predictions.create(
            model="bytedance/seedance-1-pro", input={"prompt": "[sim:no-credits] x"}
        )
    assert broke.value.status == 402
    locked = replicate.Client(
        api_token="r8_x", base_url=api(simulator), headers={"X-Simulator-Fault": "auth"}
    )
    with pytest.raises(replicate.exceptions.ReplicateError) as denied:
        locked.predictions.list()
    assert denied.value.status == 401 and denied.value.title == "Unauthenticated"
    with pytest.raises(replicate.exceptions.ModelError, match=r"code: PA"):
        client.run("bytedance/seedance-1-pro", input={"prompt": "[sim:fail] x", "duration": 2})


# -- the real API ------------------------------------------------------------------------------


@pytest.mark.live
async def test_live_replicate_generates_a_clip(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    """Costs a few cents: Seedance 1 Pro, 2 s at 480p (price unconfirmed, research 1.11)."""
    monkeypatch.setenv("REPLICATE_API_TOKEN", live_key("REPLICATE_API_TOKEN"))
    monkeypatch.delenv("VIDGATE_REPLICATE_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    provider = ReplicateProvider(settings)
    try:
        created = await provider.submit(
            submission("a paper boat drifting on a calm pond", deadline_seconds=900)
        )
        status = await poll_live(provider, created.remote_id, every=3, within=900)
        assert status.state is TaskState.SUCCEEDED, status.error
        dest = tmp_path / "live.mp4"
        await provider.download(status.outputs[0], dest)
        info = probe(dest, decode=True)
        assert info.duration == pytest.approx(2.0, abs=0.3)
        assert info.width / info.height == pytest.approx(16 / 9, rel=0.02)
    finally:
        await provider.aclose()
