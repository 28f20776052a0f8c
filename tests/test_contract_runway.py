"""Runway: the adapter, its simulator twin and the official SDK, held to one wire contract.

The simulator runs on a real loopback port (0.5 s generations). Each test talks HTTP to it:
vidgate's ``RunwayProvider`` (pointed there with ``VIDGATE_RUNWAY_BASE_URL``), the job engine
end to end, and the unmodified ``runwayml`` SDK. Requests are the cheapest the catalogue offers
(gen4.5, 2 s at 720p). The ``live`` test at the end calls the real API and skips without a key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import runwayml

from tests.conftest import live_key
from tests.support import (
    CATALOG,
    completed_video,
    creates_after_429,
    finished_outputs,
    make_submission,
    mock_transport,
    poll_until,
    refused_create,
    refused_unreachable,
    run_job,
    stopped_uncertain,
    wait_until,
    write_png,
)
from vidgate import requestlog
from vidgate.engine import Engine
from vidgate.exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    InvalidRequest,
    MediaUnreadable,
    ProviderAuthError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    UnsupportedRequest,
)
from vidgate.media.probe import probe
from vidgate.providers.base import OutputRef, Submission, TaskState
from vidgate.providers.runway import API_VERSION, RunwayProvider, build_create
from vidgate.settings import Settings
from vidgate.simulator import FaultProfile
from vidgate.simulator.server import RunningSimulator, free_port
from vidgate.types import AttemptStatus, JobStatus, VideoRequest

KEY = "rw-test-secret-0123456789"


# -- helpers -----------------------------------------------------------------------------------


def submission(
    prompt: str = "a red fox in snow",
    model: str = "runway:gen4.5",
    reference: str = "ref-1",
    **fields: Any,
) -> Submission:
    """The cheapest request the model takes unless ``fields`` say otherwise (gen4.5: 2 s)."""
    duration = 2 if model == "runway:gen4.5" else CATALOG.get(model).default_duration
    return make_submission(model, reference, **{"prompt": prompt, "duration": duration, **fields})


def sdk_wait(client: runwayml.RunwayML, task_id: str, timeout: float = 20.0) -> Any:
    def ended() -> Any:
        task = client.tasks.retrieve(task_id)
        return task if task.status in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    return wait_until(ended, timeout, interval=0.05, what=f"task {task_id} ending")


def api(simulator: RunningSimulator) -> str:
    return simulator.url + "/runway"


def headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", "X-Runway-Version": API_VERSION, **extra}


@pytest.fixture
async def runway(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[RunwayProvider]:
    monkeypatch.setenv("VIDGATE_RUNWAY_BASE_URL", api(simulator))
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    provider = RunwayProvider(settings)
    yield provider
    await provider.aclose()


def body_of(simulator: RunningSimulator, remote_id: str) -> dict[str, Any]:
    """The create body the simulator received for a task (data URIs shortened)."""
    received: dict[str, Any] = simulator.state.tasks[remote_id].extra["body"]
    return received


# -- requests on the wire ----------------------------------------------------------------------


def test_bodies_come_from_the_catalogue_wire_table(tmp_path: Path) -> None:
    path, body = build_create(submission(seed=7))
    assert path == "/v1/text_to_video"
    assert body == {
        "model": "gen4.5",
        "promptText": "a red fox in snow",
        "ratio": "1280:720",
        "duration": 2,
        "seed": 7,
    }
    # Image-to-video with a local file: a data URI, and the pixel ratio for 1:1.
    image = write_png(tmp_path / "first.png")
    path, body = build_create(submission(image=str(image), aspect_ratio="1:1"))
    assert path == "/v1/image_to_video"
    assert body["ratio"] == "960:960"
    assert body["promptImage"].startswith("data:image/png;base64,iVBORw0KGgo")
    # First + last frame on Veo: one field, a list with positions; audio and negative prompt.
    veo = submission(
        model="runway:veo3.1_fast",
        image="https://cdn.example/a.png",
        last_frame="https://cdn.example/b.png",
        negative_prompt="blurry",
        resolution="1080p",
        aspect_ratio="9:16",
    )
    path, body = build_create(veo)
    assert path == "/v1/image_to_video"
    assert body == {
        "model": "veo3.1_fast",
        "promptText": "a red fox in snow",
        "negativePrompt": "blurry",
        "ratio": "1080:1920",
        "duration": 8,
        "audio": False,
        "promptImage": [
            {"uri": "https://cdn.example/a.png", "position": "first"},
            {"uri": "https://cdn.example/b.png", "position": "last"},
        ],
    }


def test_requests_runway_cannot_take_are_refused_before_sending(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedRequest, match="does not offer keyframes"):
        build_create(submission(image="https://cdn.example/a.png", last_frame="https://x/b.png"))
    with pytest.raises(UnsupportedRequest, match="text_to_video"):
        build_create(submission(model="runway:gen4_turbo"))
    with pytest.raises(InvalidRequest, match="HTTPS only"):
        build_create(submission(image="http://cdn.example/a.png"))
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 32)
    with pytest.raises(InvalidRequest, match="JPEG, PNG or WebP"):
        build_create(submission(image=str(gif)))
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * (4 * 1024 * 1024))
    with pytest.raises(InvalidRequest, match="5 MB"):
        build_create(submission(image=str(huge)))


# -- status paths ------------------------------------------------------------------------------


async def test_text_to_video_runs_to_a_verified_mp4(
    runway: RunwayProvider,
    simulator: RunningSimulator,
    calls: list[requestlog.CallRecord],
    tmp_path: Path,
) -> None:
    created = await runway.submit(submission(seed=11, reference="job_a-1"))
    assert created.state is TaskState.QUEUED
    assert created.credits_estimate == pytest.approx(24)  # 12 credits/s x 2 s
    assert body_of(simulator, created.remote_id) == {
        "model": "gen4.5",
        "promptText": "a red fox in snow",
        "ratio": "1280:720",
        "duration": 2,
        "seed": 11,
    }
    assert simulator.state.creates_by_reference["runway"] == {"job_a-1": 1}
    seen = await poll_until(runway, created.remote_id)
    states = [s.state for s in seen]
    assert states[0] is TaskState.QUEUED and states[-1] is TaskState.SUCCEEDED
    running = [s.progress for s in seen if s.state is TaskState.RUNNING]
    assert running and all(p is not None and 0 < p < 1 for p in running)
    assert running == sorted(running)
    assert {s.raw_status for s in seen} >= {"PENDING", "RUNNING", "SUCCEEDED"}
    assert all(s.poll_after is None for s in seen)  # the engine's interval, off Runway itself
    [output] = seen[-1].outputs
    assert output.remote_id == created.remote_id and output.content_type == "video/mp4"
    dest = tmp_path / "out.mp4"
    await runway.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height, info.video_codec, info.container) == (1280, 720, "h264", "mp4")
    assert info.duration == pytest.approx(2.0, abs=0.05)
    # Every call is in the request log, and the key is nowhere in it.
    assert [c.method for c in calls][:2] == ["POST", "GET"]
    assert calls[0].url == api(simulator) + "/v1/text_to_video"
    assert calls[-1].url.startswith(simulator.url + "/_simulator/files/")
    assert "sig=" not in calls[-1].url
    assert all(KEY not in repr(c) for c in calls)


async def test_image_to_video_sends_a_local_image_inline(
    runway: RunwayProvider, simulator: RunningSimulator, tmp_path: Path
) -> None:
    image = write_png(tmp_path / "first.png")
    created = await runway.submit(submission(image=str(image), aspect_ratio="3:4"))
    task = simulator.state.tasks[created.remote_id]
    assert task.extra["endpoint"] == "image_to_video"
    body = body_of(simulator, created.remote_id)
    assert body["promptImage"].startswith("data:image/png;base64,<")
    assert body["ratio"] == "832:1104"
    # The simulator renders the pixel size Runway's ratio string names.
    assert (task.spec.width, task.spec.height, task.spec.duration) == (832, 1104, 2.0)


async def test_throttled_is_queued_until_it_runs(runway: RunwayProvider) -> None:
    created = await runway.submit(submission("[sim:throttled] a fox"))
    seen = await poll_until(runway, created.remote_id)
    assert seen[0].raw_status == "THROTTLED" and seen[0].state is TaskState.QUEUED
    assert seen[-1].state is TaskState.SUCCEEDED and seen[-1].outputs


@pytest.mark.parametrize(
    ("fault", "code", "error", "retry_later"),
    [
        ("fail", "INTERNAL", GenerationFailed, True),
        ("fail=2", "INTERNAL.BAD_OUTPUT.CODE01", GenerationFailed, False),
        ("fail=3", "THIRD_PARTY.UNAVAILABLE", GenerationFailed, True),
        ("fail=4", "ASSET.INVALID", ProviderRejectedRequest, None),
        ("fail=5", "INPUT_PREPROCESSING.INTERNAL", GenerationFailed, True),
        ("fail=6", None, GenerationFailed, True),
    ],
)
async def test_failed_tasks_are_classified_by_failure_code(
    runway: RunwayProvider, fault: str, code: str | None, error: type, retry_later: bool | None
) -> None:
    created = await runway.submit(submission(f"[sim:{fault}] a fox"))
    final = (await poll_until(runway, created.remote_id))[-1]
    assert final.state is TaskState.FAILED and final.raw_status == "FAILED"
    assert final.error is not None
    assert final.error["code"] == error.code and final.error["outcome"] == error.outcome
    assert final.error["details"].get("provider_code") == code
    assert final.error["details"]["credits"] == 0  # generation errors are refunded
    assert final.error["details"].get("retry_later") == retry_later
    assert f"Runway task {created.remote_id} failed" in final.error["message"]


async def test_moderation_is_asynchronous_input_then_output(runway: RunwayProvider) -> None:
    # Input moderation: the create is accepted; the task is FAILED with a SAFETY.INPUT code.
    created = await runway.submit(submission("[sim:moderation] a fox"))
    first = await runway.poll(created.remote_id)
    assert first.state is TaskState.FAILED and first.error is not None
    assert first.error["code"] == ContentRejected.code
    assert first.error["details"]["stage"] == "input"
    assert first.error["details"]["provider_code"] == "SAFETY.INPUT.TEXT"
    assert first.error["details"]["charged"] is True  # safety-flagged inputs are not refunded
    # Output moderation: it runs, then fails with a SAFETY.OUTPUT code.
    later = await runway.submit(submission("[sim:moderation-after=0.3] a fox"))
    seen = await poll_until(runway, later.remote_id)
    assert seen[0].state is not TaskState.FAILED
    final = seen[-1]
    assert final.state is TaskState.FAILED and final.error is not None
    assert final.error["outcome"] == "content_rejected"
    assert final.error["details"]["stage"] == "output"
    assert final.error["details"]["provider_code"] == "SAFETY.OUTPUT.VIDEO"


async def test_cancel_stops_a_live_task_and_leaves_a_finished_one(
    runway: RunwayProvider, simulator: RunningSimulator
) -> None:
    hung = await runway.submit(submission("[sim:hang] a fox"))
    finished = await runway.submit(submission("a fox"))
    await poll_until(runway, finished.remote_id)
    # hang: it never gets past half way, even after a plain task has finished.
    stuck = await runway.poll(hung.remote_id)
    assert stuck.state is TaskState.RUNNING and stuck.progress is not None
    assert stuck.progress <= 0.5
    assert await runway.cancel(hung.remote_id) is True
    canceled = await runway.poll(hung.remote_id)
    assert canceled.state is TaskState.CANCELED and canceled.raw_status == "CANCELLED"
    # A finished task is not deleted (Runway's DELETE would delete it, output and all).
    assert await runway.cancel(finished.remote_id) is False
    assert (await runway.poll(finished.remote_id)).state is TaskState.SUCCEEDED
    deletes = [k for k in simulator.state.requests if k.startswith("DELETE")]
    assert deletes == ["DELETE /runway 204"]


async def test_slow_tasks_take_longer(runway: RunwayProvider) -> None:
    slow = await runway.submit(submission("[sim:slow] a fox"))
    plain = await runway.submit(submission("a fox"))
    await poll_until(runway, plain.remote_id)
    assert not (await runway.poll(slow.remote_id)).state.terminal


async def test_a_deleted_task_is_gone(runway: RunwayProvider, simulator: RunningSimulator) -> None:
    created = await runway.submit(submission("a fox"))
    await poll_until(runway, created.remote_id)
    async with httpx.AsyncClient() as client:
        gone = await client.delete(
            f"{api(simulator)}/v1/tasks/{created.remote_id}", headers=headers()
        )
    assert gone.status_code == 204
    with pytest.raises(GenerationFailed, match="no task") as caught:
        await runway.poll(created.remote_id)
    assert caught.value.status_code == 404
    assert await runway.cancel(created.remote_id) is False


async def test_against_runway_itself_it_polls_no_faster_than_runway_asks(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """No base-URL override: the catalogue's https://api.dev.runwayml.com, here behind a mock
    transport. Every request carries the key and the version; status reads ask for 5 s."""
    import vidgate.providers.runway as module

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        task = {"id": "t-1", "status": "RUNNING", "createdAt": "2026-05-01T12:00:00.000Z"}
        return httpx.Response(200, json={**task, "progress": 0.25})

    mock_transport(monkeypatch, module, answer)
    monkeypatch.delenv("VIDGATE_RUNWAY_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    provider = RunwayProvider(settings)
    status = await provider.poll("t-1")
    await provider.aclose()
    assert (status.state, status.progress, status.poll_after) == (TaskState.RUNNING, 0.25, 5.0)
    [request] = seen
    assert str(request.url) == "https://api.dev.runwayml.com/v1/tasks/t-1"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-runway-version"] == "2024-11-06"


# -- create faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status", "words"),
    [
        ("no-credits", InsufficientCredits, 400, "enough credits"),
        ("auth", ProviderAuthError, 401, "RUNWAYML_API_SECRET"),
        ("invalid", ProviderRejectedRequest, 400, "Validation of body failed"),
        ("429,retry-after=2", RateLimited, 429, "daily generation quota"),
        ("429-no-retry-after", RateLimited, 429, "daily generation quota"),
        ("500-create", ProviderUnavailable, 500, "500"),
    ],
)
async def test_create_errors_map_to_the_exception_tree(
    runway: RunwayProvider,
    simulator: RunningSimulator,
    fault: str,
    error: type,
    status: int,
    words: str,
) -> None:
    exc = await refused_create(
        runway,
        submission(f"[sim:{fault}] a fox"),
        error,
        status,
        words,
        secret=KEY,
        simulator=simulator,
        name="runway",
    )
    if fault.startswith("429"):
        assert exc.retry_after == (2.0 if "retry-after=" in fault else None)
        assert exc.details["quota"] == "daily"


async def test_a_500_after_create_is_ambiguous(
    runway: RunwayProvider, simulator: RunningSimulator
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await runway.submit(submission("[sim:500-after-create] a fox", reference="job_b-1"))
    assert caught.value.retryable and not caught.value.details.get("not_sent")
    assert simulator.state.creates_by_reference["runway"] == {"job_b-1": 1}


async def test_validation_errors_say_what_runway_wants(
    runway: RunwayProvider, simulator: RunningSimulator
) -> None:
    # Runway's own limit (1000 UTF-16 units) is enforced by the simulator, not just our catalogue.
    wide = "🦊" * 600  # 600 characters, 1200 UTF-16 code units
    with pytest.raises(ProviderRejectedRequest, match=r"promptText: Too big") as caught:
        await runway.submit(submission(wide))
    assert caught.value.status_code == 400


async def test_an_unreachable_runway_certainly_got_nothing(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_RUNWAY_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    await refused_unreachable(RunwayProvider(settings), submission(), KEY)


async def test_a_missing_key_names_the_variable(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    from vidgate.exceptions import MissingCredentials

    monkeypatch.setenv("VIDGATE_RUNWAY_BASE_URL", api(simulator))
    provider = RunwayProvider(settings)
    with pytest.raises(MissingCredentials, match="RUNWAYML_API_SECRET"):
        await provider.submit(submission())
    await provider.aclose()


# -- status and output faults ------------------------------------------------------------------


async def test_500_on_status_reads_is_retryable(runway: RunwayProvider) -> None:
    created = await runway.submit(submission("[sim:500-poll] a fox"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as caught:
            await runway.poll(created.remote_id)
        assert caught.value.status_code == 500 and caught.value.retryable
    assert (await poll_until(runway, created.remote_id))[-1].state is TaskState.SUCCEEDED


async def test_success_without_output_is_a_failed_generation(runway: RunwayProvider) -> None:
    created = await runway.submit(submission("[sim:missing-output] a fox"))
    final = (await poll_until(runway, created.remote_id))[-1]
    assert final.raw_status == "SUCCEEDED" and final.state is TaskState.FAILED
    assert final.error is not None and final.error["code"] == GenerationFailed.code
    assert final.error["details"]["provider_code"] == "missing_output"


async def test_download_faults(
    runway: RunwayProvider, simulator: RunningSimulator, tmp_path: Path
) -> None:
    prompts = {
        "flaky": "[sim:500-download] a fox",
        "expired": "[sim:expired-url] a fox",
        "stale": "a fox",
        "truncated": "[sim:truncated] a fox",
        "corrupt": "[sim:corrupt] a fox",
        "short": "[sim:wrong-duration] a fox",
        "tall": "[sim:wrong-aspect] a fox",
    }
    outputs = await finished_outputs(runway, {n: submission(p) for n, p in prompts.items()})

    async def fetch(name: str, output: OutputRef | None = None) -> Path:
        dest = tmp_path / f"{name}.mp4"
        await runway.download(output or outputs[name], dest)
        return dest

    # 500 on the first download: retryable, and the next one works.
    with pytest.raises(ProviderUnavailable) as flaky:
        await fetch("flaky")
    assert flaky.value.status_code == 500 and not (tmp_path / "flaky.mp4").exists()
    assert probe(await fetch("flaky")).duration == pytest.approx(2.0, abs=0.05)
    # A refused URL is replaced by a freshly signed one from the task, once.
    stale = outputs["stale"]
    tampered = stale.model_copy(update={"url": stale.url.replace("sig=", "sig=00")})
    assert probe(await fetch("stale", tampered), decode=True).width == 1280
    # Still refused after that: a retryable failure to fetch, not an auth or generation error.
    with pytest.raises(ProviderUnavailable, match="freshly signed") as expired:
        await fetch("expired")
    assert expired.value.status_code == 403
    # Output faults come through the download intact; the probe is what catches them.
    with pytest.raises(MediaUnreadable):
        probe(await fetch("truncated"), decode=True)
    # (``corrupt`` flips random bytes, which the decoder sometimes conceals: what the adapter
    # owns is handing over exactly the bytes that were served.)
    served = simulator.state.config.media_dir / f"{outputs['corrupt'].remote_id}.mp4"
    assert (await fetch("corrupt")).read_bytes() == served.read_bytes()
    assert probe(await fetch("short")).duration == pytest.approx(1.0, abs=0.05)
    tall = probe(await fetch("tall"))
    assert (tall.width, tall.height) == (720, 1280)


# -- the simulator's gate ----------------------------------------------------------------------


def test_the_simulator_requires_the_version_header_and_a_key(simulator: RunningSimulator) -> None:
    body = {"model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 2}
    url = api(simulator) + "/v1/text_to_video"
    no_version = httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert no_version.status_code == 400
    assert "X-Runway-Version" in no_version.json()["error"]
    assert "2024-11-06" in no_version.json()["error"]
    wrong = httpx.post(url, json=body, headers=headers(**{"X-Runway-Version": "2023-01-01"}))
    assert wrong.status_code == 400 and "Unsupported" in wrong.json()["error"]
    anonymous = httpx.post(url, json=body, headers={"X-Runway-Version": API_VERSION})
    assert anonymous.status_code == 401
    assert httpx.get(api(simulator) + "/v1/tasks/x", headers=headers()).status_code == 404
    assert simulator.state.creates["runway"] == 0
    broke = httpx.post(url, json=body, headers=headers(**{"X-Simulator-Fault": "no-credits"}))
    assert broke.status_code == 400
    assert broke.json() == {"error": "You do not have enough credits to run this task."}
    assert simulator.state.creates["runway"] == 0
    ok = httpx.post(url, json=body, headers=headers())
    assert ok.status_code == 200 and set(ok.json()) == {"id", "estimatedCost"}


async def test_the_global_fault_profile_reaches_runway_tasks(
    runway: RunwayProvider, simulator: RunningSimulator
) -> None:
    simulator.state.config.profile = FaultProfile({"throttled": 1.0, "fail": 1.0})
    created = await runway.submit(submission("a fox"))
    seen = await poll_until(runway, created.remote_id)
    assert seen[0].raw_status == "THROTTLED"
    assert seen[-1].state is TaskState.FAILED and seen[-1].error is not None
    assert seen[-1].error["details"]["provider_code"] == "INTERNAL"


@pytest.mark.parametrize(
    ("endpoint", "body", "path"),
    [
        ("text_to_video", {"model": "gen4", "promptText": "x", "ratio": "1280:720"}, ["model"]),
        ("text_to_video", {"model": "gen4.5", "promptText": "x", "ratio": "960:960"}, ["ratio"]),
        ("text_to_video", {"model": "gen4.5", "ratio": "1280:720", "duration": 5}, ["promptText"]),
        (
            "text_to_video",
            {"model": "gen4.5", "promptText": "x", "ratio": "16:9", "duration": 5},
            ["ratio"],
        ),
        (
            "text_to_video",
            {"model": "veo3.1", "promptText": "x", "ratio": "1280:720", "duration": 5},
            ["duration"],
        ),
        (
            "text_to_video",
            {"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5, "seed": -1},
            ["seed"],
        ),
        (
            "text_to_video",
            {"model": "gen4.5", "prompt_text": "x", "ratio": "1280:720", "duration": 5},
            [],
        ),
        (
            "image_to_video",
            {
                "model": "veo3.1",
                "ratio": "1280:720",
                "promptImage": [{"uri": "https://a.example/x.png", "position": "last"}],
            },
            ["promptImage"],
        ),
        (
            "image_to_video",
            {"model": "gen4_turbo", "ratio": "1280:720", "promptImage": "http://a.example/x.png"},
            ["promptImage"],
        ),
    ],
)
def test_the_simulator_validates_like_runway(
    simulator: RunningSimulator, endpoint: str, body: dict[str, Any], path: list[str]
) -> None:
    answer = httpx.post(f"{api(simulator)}/v1/{endpoint}", json=body, headers=headers())
    assert answer.status_code == 400
    error = answer.json()
    assert error["error"] == "Validation of body failed"
    assert path in [issue["path"] for issue in error["issues"]]


# -- the official SDK, unmodified but for its base URL ---------------------------------------


def test_the_official_sdk_runs_a_task_end_to_end(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    client = runwayml.RunwayML(api_key="k", base_url=api(simulator))
    created = client.text_to_video.create(
        model="gen4.5", prompt_text="a cat surfing", ratio="720:1280", duration=2, seed=42
    )
    assert created.estimated_cost.credits == pytest.approx(24)
    task = sdk_wait(client, created.id)
    assert task.status == "SUCCEEDED" and task.cost.credits == 24
    video = httpx.get(task.output[0])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    (tmp_path / "sdk.mp4").write_bytes(video.content)
    info = probe(tmp_path / "sdk.mp4")
    assert (info.width, info.height) == (720, 1280)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    # Its organization call parses too, and counts what we did today.
    org = client.organization.retrieve()
    assert org.usage.models["gen4.5"].daily_generations == 1
    # DELETE on a finished task deletes it.
    client.tasks.delete(created.id)
    with pytest.raises(runwayml.NotFoundError):
        client.tasks.retrieve(created.id)


def test_the_official_sdk_sees_runway_errors(simulator: RunningSimulator) -> None:
    client = runwayml.RunwayML(api_key="k", base_url=api(simulator), max_retries=1)
    with pytest.raises(runwayml.BadRequestError) as bad:
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="16:9", duration=12)
    assert bad.value.status_code == 400
    assert {tuple(i["path"]) for i in bad.value.body["issues"]} == {("ratio",), ("duration",)}
    with pytest.raises(runwayml.AuthenticationError):
        client.tasks.retrieve("x", extra_headers={"X-Simulator-Fault": "auth"})
    # The SDK retries a 429 on its own (honouring Retry-After); the retry goes through.
    task = client.text_to_video.create(
        model="gen4.5",
        prompt_text="[sim:429,retry-after=0.1] a fox",
        ratio="1280:720",
        duration=2,
    )
    assert simulator.state.requests["POST /runway 429"] == 1
    # ...and it retries a create that failed *after* the task was made: two paid tasks. This
    # is why vidgate speaks HTTP itself and never retries an ambiguous create.
    client.text_to_video.create(
        model="gen4.5",
        prompt_text="[sim:500-after-create] a fox",
        ratio="1280:720",
        duration=2,
    )
    assert simulator.state.creates["runway"] == 3
    assert task.id in simulator.state.tasks


# -- through the job engine --------------------------------------------------------------------


@pytest.fixture
async def engine(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_RUNWAY_BASE_URL", api(simulator))
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    async with Engine(settings) as running:
        yield running


async def test_a_job_on_runway_completes_with_a_verified_output(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt="a red fox in snow", duration=2, providers=("runway",))
    done = await run_job(engine, request)
    completed_video(done, (1280, 720), 2.0)
    assert (done.provider, done.model) == ("runway", "gen4.5")
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.SUCCEEDED and attempt.remote_id in simulator.state.tasks
    assert simulator.state.creates_by_reference["runway"] == {attempt.reference: 1}
    urls = [c.url for c in engine.calls(done.id)]
    assert urls[0] == api(simulator) + "/v1/text_to_video"
    assert api(simulator) + f"/v1/tasks/{attempt.remote_id}" in urls
    assert all(KEY not in repr(c) for c in engine.calls(done.id))


async def test_a_429_is_sent_again_after_retry_after_and_creates_once(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(
        prompt="[sim:429,retry-after=0.2] a red fox", duration=2, providers=("runway",)
    )
    done = await run_job(engine, request)
    creates = creates_after_429(engine, done, simulator, "runway")
    assert creates == [429, 200]
    history = [e.message for e in engine.events(done.id)]
    assert any("rate_limited" in m and "retry in 0.2 s" in m for m in history)


async def test_a_square_image_to_video_job_passes_validation(
    engine: Engine, simulator: RunningSimulator, tmp_path: Path
) -> None:
    image = write_png(tmp_path / "first.png", 24, 24)
    request = VideoRequest(
        prompt="a red fox", duration=2, image=str(image), aspect_ratio="1:1", providers=("runway",)
    )
    done = await run_job(engine, request)
    assert body_of(simulator, done.attempts[0].remote_id or "")["ratio"] == "960:960"
    if done.status is not JobStatus.COMPLETED:
        error = done.error
        if error is None or error.code != "output_mismatch" or "960x960" not in error.message:
            pytest.fail(f"failed for another reason than the known one: {error}")
        raise AssertionError(error.message)


async def test_an_ambiguous_create_stops_the_job_after_one_create(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(
        prompt="[sim:500-after-create] a red fox", duration=2, providers=("runway",)
    )
    done = await run_job(engine, request)
    attempt = stopped_uncertain(done)
    assert attempt.reference in done.error.message
    assert simulator.state.creates_by_reference["runway"] == {attempt.reference: 1}
    assert simulator.state.creates["runway"] == 1


# -- the real API ------------------------------------------------------------------------------


@pytest.mark.live
async def test_live_runway_generates_a_clip(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    """Costs about 24 credits ($0.24): gen4.5, 2 s, 720p."""
    monkeypatch.setenv("RUNWAYML_API_SECRET", live_key("RUNWAYML_API_SECRET"))
    monkeypatch.delenv("VIDGATE_RUNWAY_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    provider = RunwayProvider(settings)
    try:
        created = await provider.submit(submission("a paper boat drifting on a calm pond"))
        # At Runway's own pace: the interval its status reads ask for.
        seen = await poll_until(provider, created.remote_id, timeout=600, interval=5.0)
        assert all(s.poll_after == 5.0 for s in seen)  # Runway's polling guidance
        status = seen[-1]
        assert status.state is TaskState.SUCCEEDED, status.error
        dest = tmp_path / "live.mp4"
        await provider.download(status.outputs[0], dest)
        info = probe(dest, decode=True)
        assert info.duration == pytest.approx(2.0, abs=0.3)
        assert info.width / info.height == pytest.approx(16 / 9, rel=0.02)
    finally:
        await provider.aclose()
