"""fal end to end: the official client, the job engine and the CLI against the simulator twin,
and the real API.

The unmodified ``fal-client`` has its queue URL prefix (a module constant built from
``FAL_QUEUE_RUN_HOST`` at import) pointed at the simulator. The ``live`` test at the end calls
the real API and skips without a key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import fal_client
import fal_client.client
import httpx
import pytest

from tests import support_fal
from tests.conftest import live_key, poll_live
from tests.support import completed_video, run_job, stopped_uncertain
from tests.support_fal import KEY, SEEDANCE_PATH, api, submission
from vidgate.engine import Engine
from vidgate.media.probe import probe
from vidgate.providers.base import TaskState
from vidgate.providers.fal import FalProvider, split_remote_id
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import AttemptStatus, VideoRequest

#: The fixtures this file shares with the other fal contract files (pytest finds a
#: fixture by its name in the test's module).
fresh_jwks_cache = support_fal.fresh_jwks_cache
fal_env = support_fal.fal_env


# -- the official client, its queue host pointed at the simulator -------------------------------


@pytest.fixture
def sdk(fal_env: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> fal_client.SyncClient:
    """``fal_client`` builds its queue URL as ``https://`` + ``FAL_QUEUE_RUN_HOST`` at import
    (``fal_client.client.QUEUE_URL_FORMAT``); the rest it reads from the submit's answer."""
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", api(fal_env) + "/")
    return fal_client.SyncClient(key=KEY)


def test_the_official_client_submits_polls_and_gets_a_result(
    sdk: fal_client.SyncClient, fal_env: RunningSimulator, tmp_path: Path
) -> None:
    app = SEEDANCE_PATH.lstrip("/")
    handle = sdk.submit(
        app,
        arguments={"prompt": "a cat surfing", "duration": "2", "resolution": "480p", "seed": 3},
        webhook_url="http://127.0.0.1:9/hook",
    )
    task = fal_env.state.tasks[handle.request_id]
    assert task.extra["webhook"] == "http://127.0.0.1:9/hook"
    assert handle.status_url.startswith(api(fal_env) + "/fal-ai/bytedance/requests/")
    first = handle.status(with_logs=True)
    assert isinstance(first, fal_client.Queued | fal_client.InProgress)
    events = list(handle.iter_events(with_logs=True, interval=0.05))
    assert isinstance(events[-1], fal_client.Completed) and events[-1].error is None
    assert any(isinstance(e, fal_client.InProgress) and e.logs for e in events)
    assert events[-1].metrics["inference_time"] > 0
    result = handle.get()
    assert result["seed"] == 3
    video = httpx.get(result["video"]["url"])
    assert video.status_code == 200
    (tmp_path / "sdk.mp4").write_bytes(video.content)
    info = probe(tmp_path / "sdk.mp4")
    assert (info.width, info.height) == (854, 480)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    # The module-level API goes the same way (it reads FAL_KEY).
    again = fal_client.submit(app, arguments={"prompt": "a dog", "duration": "2"})
    assert again.request_id in fal_env.state.tasks


def test_the_official_client_sees_fals_errors(
    sdk: fal_client.SyncClient, fal_env: RunningSimulator
) -> None:
    app = SEEDANCE_PATH.lstrip("/")
    # An invalid input is accepted, completes with an error, and the result raises the 422.
    handle = sdk.submit(app, arguments={"prompt": "a fox", "duration": "13"})
    last = list(handle.iter_events(interval=0.05))[-1]
    assert isinstance(last, fal_client.Completed) and last.error == "Invalid status code: 422"
    with pytest.raises(fal_client.client.FalClientHTTPError) as invalid:
        handle.get()
    assert invalid.value.status_code == 422
    assert isinstance(invalid.value.message, list)
    assert invalid.value.message[0]["loc"] == ["body", "duration"]
    # A runner failure: the flat format, with its error type.
    failed = sdk.submit(app, arguments={"prompt": "[sim:fail=3] a fox", "duration": "2"})
    done = list(failed.iter_events(interval=0.05))[-1]
    assert isinstance(done, fal_client.Completed) and done.error_type == "runner_disconnected"
    with pytest.raises(fal_client.client.FalClientHTTPError) as runner:
        failed.get()
    assert (runner.value.status_code, runner.value.error_type) == (503, "runner_disconnected")
    # Cancel: accepted while it runs, refused once it has completed.
    hung = sdk.submit(app, arguments={"prompt": "[sim:hang] a fox", "duration": "2"})
    hung.cancel()
    ended = hung.status()
    assert isinstance(ended, fal_client.Completed) and ended.error_type == "request_cancelled"
    with pytest.raises(fal_client.client.FalClientHTTPError) as late:
        hung.cancel()
    assert late.value.status_code == 400
    # A bad key.
    with pytest.raises(fal_client.client.FalClientHTTPError) as auth:
        fal_client.SyncClient(key="nocolon").submit(app, arguments={"prompt": "x"})
    assert auth.value.status_code == 401


def test_the_official_client_retries_a_429_and_creates_once(
    sdk: fal_client.SyncClient, fal_env: RunningSimulator
) -> None:
    handle = sdk.submit(
        SEEDANCE_PATH.lstrip("/"),
        arguments={"prompt": "[sim:429,retry-after=0.1] a fox", "duration": "2"},
    )
    assert fal_env.state.requests["POST /fal 429"] == 1
    assert fal_env.state.creates["fal"] == 1
    assert handle.request_id in fal_env.state.tasks


# -- through the job engine and the CLI --------------------------------------------------------


@pytest.fixture
async def engine(fal_env: RunningSimulator, settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


async def test_a_job_on_fal_completes_with_a_verified_output(
    engine: Engine, fal_env: RunningSimulator
) -> None:
    request = VideoRequest(
        prompt="a red fox in snow", duration=2, resolution="480p", providers=("fal",)
    )
    done = await run_job(engine, request)
    completed_video(done, (854, 480), 2.0)
    assert (done.provider, done.model) == ("fal", "fal-ai/bytedance/seedance/v1/pro/text-to-video")
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.SUCCEEDED and attempt.remote_id is not None
    assert split_remote_id(attempt.remote_id)[1] in fal_env.state.tasks
    assert fal_env.state.creates_by_reference["fal"] == {attempt.reference: 1}
    urls = [c.url for c in engine.calls(done.id)]
    assert urls[0] == api(fal_env) + SEEDANCE_PATH
    assert all(KEY not in repr(c) for c in engine.calls(done.id))


async def test_an_ambiguous_create_stops_the_job_after_one_create(
    engine: Engine, fal_env: RunningSimulator
) -> None:
    request = VideoRequest(
        prompt="[sim:500-after-create] a red fox",
        duration=2,
        resolution="480p",
        providers=("fal",),
    )
    done = await run_job(engine, request)
    attempt = stopped_uncertain(done)
    assert fal_env.state.creates_by_reference["fal"] == {attempt.reference: 1}


def test_vidgate_generate_with_provider_fal_against_the_simulator(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The issue's acceptance check: ``vidgate generate --provider fal`` with only the
    simulator's address and a key set (queue and JWKS URLs derive from it)."""
    from typer.testing import CliRunner

    from vidgate.cli import app

    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("FAL_KEY", KEY)
    monkeypatch.setenv("COLUMNS", "250")
    out = tmp_path / "fox.mp4"
    args = ["generate", "a red fox in snow", "--provider", "fal", "--duration", "2"]
    args += ["--resolution", "480p", "--out", str(out)]
    args += ["--deadline", "90"]  # a stalled job fails the test instead of hanging for 600 s
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    info = probe(out, decode=True)
    assert (info.width, info.height, info.video_codec) == (854, 480, "h264")
    assert simulator.state.creates["fal"] == 1
    assert FalProvider(Settings()).jwks_url() == simulator.url + "/fal/.well-known/jwks.json"


# -- the real API ------------------------------------------------------------------------------


@pytest.mark.live
async def test_live_fal_generates_a_clip(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    """Costs a few cents: Seedance 1 Pro, 2 s at 480p."""
    monkeypatch.setenv("FAL_KEY", live_key("FAL_KEY"))
    for variable in ("VIDGATE_FAL_QUEUE_URL", "VIDGATE_FAL_JWKS_URL", "VIDGATE_SIMULATOR_URL"):
        monkeypatch.delenv(variable, raising=False)
    provider = FalProvider(settings)
    try:
        created = await provider.submit(submission("a paper boat drifting on a calm pond"))
        status = await poll_live(provider, created.remote_id, every=2, within=600)
        assert status.state is TaskState.SUCCEEDED, status.error
        dest = tmp_path / "live.mp4"
        await provider.download(status.outputs[0], dest)
        info = probe(dest, decode=True)
        assert info.duration == pytest.approx(2.0, abs=0.3)
        assert info.width / info.height == pytest.approx(16 / 9, rel=0.03)
    finally:
        await provider.aclose()
