"""fal: the adapter against its simulator twin, held to one wire contract.

The simulator runs on a real loopback port (0.5 s generations). vidgate's ``FalProvider`` (pointed
there with ``VIDGATE_FAL_QUEUE_URL`` and ``VIDGATE_FAL_JWKS_URL``) creates, polls, cancels and
downloads against it: the input each endpoint receives (from the catalogue's wire table),
status paths, create faults, status and output faults, and the simulator's own gate. Renders are
the cheapest the catalogue offers (Seedance, 2 s at 480p); other endpoints are only submitted, to
check the input each one receives. Webhooks are in ``test_contract_fal_webhooks.py``; the
official client, engine, CLI and live test in ``test_contract_fal_e2e.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import vidgate.providers.fal as fal_module
from tests import support_fal
from tests.support import (
    CATALOG,
    mock_transport,
    poll_until,
    refused_create,
    refused_unreachable,
    until,
    write_png,
)
from tests.support_fal import KEY, SEEDANCE, SEEDANCE_PATH, api, sim_task, submission
from vidgate import requestlog
from vidgate.exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    InvalidRequest,
    MediaUnreadable,
    MissingCredentials,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
    UnsupportedRequest,
)
from vidgate.media.probe import probe
from vidgate.providers.base import OutputRef, TaskState, TaskStatus
from vidgate.providers.fal import FalProvider, build_input, split_remote_id
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator, free_port

#: The fixtures this file shares with the other fal contract files (pytest finds a
#: fixture by its name in the test's module).
fresh_jwks_cache = support_fal.fresh_jwks_cache
fal_env = support_fal.fal_env
fal = support_fal.fal


#: fal's images in these tests are blue (the other providers' are orange).
BLUE = (40, 120, 200)


def headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Key {KEY}", **extra}


def received(simulator: RunningSimulator, remote_id: str) -> dict[str, Any]:
    """The input the simulator received for a request (data URIs shortened)."""
    found: dict[str, Any] = sim_task(simulator, remote_id).extra["input"]
    return found


async def finished(provider: FalProvider, prompt: str, **fields: Any) -> TaskStatus:
    created = await provider.submit(submission(prompt, **fields))
    return (await poll_until(provider, created.remote_id))[-1]


# -- the input, from catalogue data ------------------------------------------------------------


def test_inputs_come_from_the_catalogue_wire_table(tmp_path: Path) -> None:
    # Veo 3.1: "8s"-style durations, 2160p written "4k", the audio switch, seed, negative prompt.
    veo = submission(
        model="fal:fal-ai/veo3.1",
        duration=6,
        resolution="4k",
        aspect_ratio="9:16",
        seed=5,
        audio=False,
        negative_prompt="blur",
    )
    assert build_input(veo) == {
        "prompt": "a red fox in snow",
        "negative_prompt": "blur",
        "duration": "6s",
        "aspect_ratio": "9:16",
        "resolution": "4k",
        "seed": 5,
        "generate_audio": False,
    }
    # Kling: string durations, no resolution parameter (not sent), no seed.
    kling = submission(model="fal:fal-ai/kling-video/v2.1/master/text-to-video", duration=10)
    assert build_input(kling) == {
        "prompt": "a red fox in snow",
        "duration": "10",
        "aspect_ratio": "16:9",
    }
    # Hailuo standard: no aspect or resolution parameter at all.
    hailuo = submission(model="fal:fal-ai/minimax/hailuo-02/standard/text-to-video")
    assert build_input(hailuo) == {"prompt": "a red fox in snow", "duration": "6"}
    # Kling image-to-video with first and last frames: a local file inline, a URL as it is;
    # no aspect ratio (the output follows the image).
    image = write_png(tmp_path / "first.png", color=BLUE)
    i2v = submission(
        model="fal:fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
        image=str(image),
        last_frame="https://cdn.example/last.png",
    )
    body = build_input(i2v)
    assert body["image_url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert body["tail_image_url"] == "https://cdn.example/last.png"
    assert set(body) == {"prompt", "duration", "image_url", "tail_image_url"}


def test_the_mapping_is_data_not_code() -> None:
    """Change the catalogue's ``wire`` table and the input follows: nothing is per model."""
    base = submission(model="fal:fal-ai/kling-video/v2.1/master/text-to-video", duration=10)
    wire = {
        **base.model.wire,
        "input": {"prompt": "text", "duration": "length", "seed": "noise"},
        "format": {"duration": "str_s", "seed": "int"},
        "values": {"duration": {"10": 9}},
        "fixed": {"mode": "pro"},
    }
    edited = base.model_copy(
        update={
            "model": base.model.model_copy(update={"wire": wire}),
            "request": base.request.model_copy(update={"seed": 3}),
        }
    )
    assert build_input(edited) == {
        "text": "a red fox in snow",
        "length": "9s",
        "noise": 3,
        "mode": "pro",
    }


def test_inputs_fal_cannot_take_are_refused_before_sending(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedRequest, match="takes no start image"):
        build_input(submission(model="fal:fal-ai/veo3.1", image="https://cdn.example/a.png"))
    with pytest.raises(InvalidRequest, match="HTTPS only"):
        build_input(
            submission(model="fal:fal-ai/veo3.1/image-to-video", image="http://cdn.example/a.png")
        )
    text = tmp_path / "a.txt"
    text.write_text("not an image")
    with pytest.raises(InvalidRequest, match="PNG, JPEG"):
        build_input(submission(model="fal:fal-ai/veo3.1/image-to-video", image=str(text)))
    # Wan's 500-character negative prompt limit is catalogue data the schema cannot express.
    with pytest.raises(InvalidRequest, match="at most 500 characters"):
        build_input(
            submission(model="fal:fal-ai/wan-25-preview/text-to-video", negative_prompt="x" * 501)
        )


@pytest.mark.parametrize(
    ("model", "fields", "expected", "size"),
    [
        (
            "fal:fal-ai/veo3.1/fast",
            {"duration": 4, "resolution": "720p", "aspect_ratio": "9:16", "audio": False},
            {
                "prompt": "a red fox in snow",
                "duration": "4s",
                "aspect_ratio": "9:16",
                "resolution": "720p",
                "generate_audio": False,
            },
            (720, 1280, 4.0),
        ),
        (
            "fal:fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
            {"duration": 10, "aspect_ratio": "1:1", "negative_prompt": "blurry"},
            {
                "prompt": "a red fox in snow",
                "negative_prompt": "blurry",
                "duration": "10",
                "aspect_ratio": "1:1",
            },
            (1080, 1080, 10.0),
        ),
        (
            "fal:fal-ai/minimax/hailuo-02/standard/text-to-video",
            {"duration": 10},
            {"prompt": "a red fox in snow", "duration": "10"},
            (1366, 768, 10.0),
        ),
        (
            SEEDANCE,
            {"duration": 3, "resolution": "720p", "aspect_ratio": "21:9", "seed": 42},
            {
                "prompt": "a red fox in snow",
                "duration": "3",
                "aspect_ratio": "21:9",
                "resolution": "720p",
                "seed": 42,
            },
            (1680, 720, 3.0),
        ),
        (
            "fal:fal-ai/wan-25-preview/text-to-video",
            {"resolution": "480p", "aspect_ratio": "9:16", "negative_prompt": "rain"},
            {
                "prompt": "a red fox in snow",
                "negative_prompt": "rain",
                "duration": "5",
                "aspect_ratio": "9:16",
                "resolution": "480p",
            },
            (480, 854, 5.0),
        ),
    ],
)
async def test_each_endpoint_receives_exactly_its_own_input(
    fal: FalProvider,
    fal_env: RunningSimulator,
    calls: list[requestlog.CallRecord],
    model: str,
    fields: dict[str, Any],
    expected: dict[str, Any],
    size: tuple[int, int, float],
) -> None:
    profile = CATALOG.get(model)
    created = await fal.submit(submission(model=model, **fields))
    task = sim_task(fal_env, created.remote_id)
    assert received(fal_env, created.remote_id) == expected
    assert task.extra["issues"] == []  # the twin's own per-endpoint schema accepts it
    assert task.model == profile.id
    # Submitted to the full endpoint id; the request lives under the catalogue's {owner}/{app}.
    assert calls[0].url == api(fal_env) + "/" + profile.id
    app, _ = split_remote_id(created.remote_id)
    assert app == profile.wire["app"] == task.extra["app"]
    # What it renders is what the endpoint's parameters (or its documented defaults) say.
    assert (task.spec.width, task.spec.height, task.spec.duration) == size


async def test_image_to_video_follows_the_image(
    fal: FalProvider, fal_env: RunningSimulator, tmp_path: Path
) -> None:
    image = write_png(tmp_path / "tall.png", 18, 32, BLUE)
    created = await fal.submit(
        submission(
            model="fal:fal-ai/minimax/hailuo-02/pro/image-to-video",
            image=str(image),
            aspect_ratio="9:16",
        )
    )
    body = received(fal_env, created.remote_id)
    assert set(body) == {"prompt", "image_url"}
    assert body["image_url"].startswith("data:image/png;base64,<")
    task = sim_task(fal_env, created.remote_id)
    assert task.extra["issues"] == []
    assert (task.spec.width, task.spec.height, task.spec.duration) == (1080, 1920, 6.0)


# -- status paths ------------------------------------------------------------------------------


async def test_text_to_video_runs_to_a_verified_mp4(
    fal: FalProvider,
    fal_env: RunningSimulator,
    calls: list[requestlog.CallRecord],
    tmp_path: Path,
) -> None:
    created = await fal.submit(submission(seed=11, reference="job_a-1"))
    assert created.state is TaskState.QUEUED
    app, request_id = split_remote_id(created.remote_id)
    assert app == "fal-ai/bytedance"
    assert received(fal_env, created.remote_id) == {
        "prompt": "a red fox in snow",
        "duration": "2",
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "seed": 11,
    }
    assert fal_env.state.creates_by_reference["fal"] == {"job_a-1": 1}
    seen = await poll_until(fal, created.remote_id)
    assert seen[0].state is TaskState.QUEUED and seen[0].raw_status == "IN_QUEUE"
    assert seen[-1].state is TaskState.SUCCEEDED and seen[-1].raw_status == "COMPLETED"
    running = [s.progress for s in seen if s.state is TaskState.RUNNING]
    assert running and all(p is not None and 0 < p < 1 for p in running)  # from the log text
    assert running == sorted(p for p in running if p is not None)
    assert {s.raw_status for s in seen} == {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    [output] = seen[-1].outputs
    assert output.remote_id == created.remote_id and output.content_type == "video/mp4"
    dest = tmp_path / "out.mp4"
    await fal.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height, info.video_codec, info.container) == (854, 480, "h264", "mp4")
    assert info.duration == pytest.approx(2.0, abs=0.05)
    # The submit went to the full endpoint id; status and result to {owner}/{app} only.
    base = f"{api(fal_env)}/fal-ai/bytedance/requests/{request_id}"
    urls = [(c.method, c.url) for c in calls]
    assert urls[0] == ("POST", api(fal_env) + SEEDANCE_PATH)
    assert ("GET", base + "/status") in urls and ("GET", base) in urls
    assert urls[-1][1].startswith(fal_env.url + "/_simulator/files/")
    assert all(KEY not in repr(c) for c in calls)


async def test_the_queue_speaks_fals_status_codes_and_logs(fal_env: RunningSimulator) -> None:
    """On the wire: the submit answer, 202 until COMPLETED and 200 then, logs on request."""
    body = {"prompt": "a fox", "duration": "2", "resolution": "480p"}
    async with httpx.AsyncClient(headers=headers()) as client:
        answer = await client.post(api(fal_env) + SEEDANCE_PATH, json=body)
        assert answer.status_code == 200
        created = answer.json()
        request_id = created["request_id"]
        base = f"{api(fal_env)}/fal-ai/bytedance/requests/{request_id}"
        assert created == {
            "status": "IN_QUEUE",
            "request_id": request_id,
            "gateway_request_id": request_id,
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
            "queue_position": created["queue_position"],
        }
        early = await client.get(created["response_url"])
        assert early.status_code == 400  # no result before it completes
        seen: list[tuple[int, dict[str, Any]]] = []

        async def completed() -> bool:
            read = await client.get(created["status_url"], params={"logs": "1"})
            seen.append((read.status_code, read.json()))
            return bool(seen[-1][1]["status"] == "COMPLETED")

        await until(completed, interval=0.05, what="the request completing")
        codes = {status["status"]: code for code, status in seen}
        assert codes == {"IN_QUEUE": 202, "IN_PROGRESS": 202, "COMPLETED": 200}
        queued = next(s for _, s in seen if s["status"] == "IN_QUEUE")
        assert queued["queue_position"] == 0
        progress = next(s for _, s in seen if s["status"] == "IN_PROGRESS")
        assert progress["logs"][-1]["message"].startswith("Generating video ")
        assert {"level", "source", "timestamp"} <= set(progress["logs"][-1])
        completed = seen[-1][1]
        assert completed["metrics"]["inference_time"] > 0 and "error" not in completed
        quiet = await client.get(created["status_url"])  # logs only when asked for
        assert quiet.status_code == 200 and quiet.json()["logs"] is None
        verbose = await client.get(created["status_url"], params={"logs": "true"})
        assert verbose.json()["logs"][-1]["message"] == "Generating video 100%"
        stream = await client.get(created["status_url"] + "/stream")
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in stream.text.splitlines() if line]
        assert [e["status"] for e in events] == ["COMPLETED"]  # it ends at COMPLETED
        result = await client.get(created["response_url"])
        assert result.status_code == 200 and result.headers["x-fal-request-id"] == request_id
        video = result.json()["video"]
        assert video["content_type"] == "video/mp4" and isinstance(result.json()["seed"], int)
        assert (await client.get(video["url"])).headers["content-type"] == "video/mp4"
        # A second request waits behind a held one: its 0-indexed queue position says so.
        held = (
            await client.post(
                api(fal_env) + SEEDANCE_PATH + "?x",
                json={"prompt": "[sim:throttled] first", "duration": "2"},
            )
        ).json()
        behind = (
            await client.post(
                api(fal_env) + SEEDANCE_PATH,
                json={"prompt": "[sim:throttled] second", "duration": "2"},
            )
        ).json()
        assert (held["queue_position"], behind["queue_position"]) == (0, 1)


async def test_throttled_is_queued_until_it_runs(fal: FalProvider) -> None:
    created = await fal.submit(submission("[sim:throttled] a fox"))
    seen = await poll_until(fal, created.remote_id)
    queued = [s for s in seen if s.state is TaskState.QUEUED]
    assert len(queued) >= 3 and seen[-1].state is TaskState.SUCCEEDED


@pytest.mark.parametrize(
    ("fault", "error", "code", "retry_later"),
    [
        ("fail", GenerationFailed, "runner_server_error", True),
        ("fail=2", GenerationFailed, "request_timeout", True),
        ("fail=3", GenerationFailed, "runner_disconnected", True),
        ("fail=4", GenerationFailed, "internal_error", True),
        ("fail=5", ProviderRejectedRequest, "file_download_error", None),
    ],
)
async def test_model_failures_are_classified_from_the_stored_error(
    fal: FalProvider, fault: str, error: type[ProviderError], code: str, retry_later: bool | None
) -> None:
    created = await fal.submit(submission(f"[sim:{fault}] a fox"))
    seen = await poll_until(fal, created.remote_id)
    assert seen[0].state is not TaskState.FAILED  # it ran before failing
    final = seen[-1]
    assert final.state is TaskState.FAILED and final.raw_status == "COMPLETED"
    assert final.error is not None
    assert final.error["code"] == error.code and final.error["outcome"] == error.outcome
    assert final.error["details"]["provider_code"] == code
    assert final.error["details"].get("retry_later") == retry_later
    assert final.error["details"]["remote_id"] == created.remote_id


async def test_both_error_formats_on_the_wire(fal_env: RunningSimulator) -> None:
    """A runner failure is the flat format with X-Fal-Error-Type; a refused input the list."""
    async with httpx.AsyncClient(headers=headers()) as client:

        async def completed(body: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
            created = (await client.post(api(fal_env) + SEEDANCE_PATH, json=body)).json()

            async def read() -> dict[str, Any] | None:
                found: dict[str, Any] = (await client.get(created["status_url"])).json()
                return found if found["status"] == "COMPLETED" else None

            status = await until(read, interval=0.05, what="the request completing")
            return status, await client.get(created["response_url"])

        status, result = await completed({"prompt": "[sim:fail=2] a fox", "duration": "2"})
        assert (status["error"], status["error_type"]) == ("Request timed out", "request_timeout")
        assert result.status_code == 504 and result.headers["x-fal-error-type"] == "request_timeout"
        assert result.json() == {"detail": "Request timed out", "error_type": "request_timeout"}

        status, result = await completed({"prompt": "a fox", "duration": "13", "fps": 24})
        assert status["error"] == "Invalid status code: 422"
        assert result.status_code == 422
        detail = result.json()["detail"]
        assert {(tuple(d["loc"]), d["type"]) for d in detail} == {
            (("body", "duration"), "literal_error"),
            (("body", "fps"), "extra_forbidden"),
        }

        status, result = await completed({"duration": "2"})
        assert result.json()["detail"] == [
            {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}
        ]


async def test_an_invalid_input_fails_the_request_as_the_callers_error(
    fal: FalProvider, fal_env: RunningSimulator
) -> None:
    created = await fal.submit(submission("[sim:invalid] a fox"))
    [final] = await poll_until(fal, created.remote_id)  # validated when it runs: at once
    assert final.state is TaskState.FAILED and final.error is not None
    assert final.error["code"] == ProviderRejectedRequest.code
    assert final.error["outcome"] == "user_error"
    assert final.error["details"]["status_code"] == 422
    assert "Simulated invalid request" in final.error["message"]
    assert fal_env.state.creates["fal"] == 1  # fal queues first, validates when it runs


async def test_moderation_is_content_rejected_at_input_then_at_output(fal: FalProvider) -> None:
    created = await fal.submit(submission("[sim:moderation] a fox"))
    first = await fal.poll(created.remote_id)
    assert first.state is TaskState.FAILED and first.error is not None
    assert first.error["code"] == ContentRejected.code
    assert first.error["details"]["stage"] == "input"
    assert first.error["details"]["provider_code"] == "content_policy_violation"
    assert first.error["details"]["categories"] == ["violence"]
    assert first.error["details"]["charged"] is False
    assert "prompt: The content was flagged" in first.error["message"]
    later = await fal.submit(submission("[sim:moderation-after=0.3] a fox"))
    seen = await poll_until(fal, later.remote_id)
    assert seen[0].state is not TaskState.FAILED
    final = seen[-1]
    assert final.state is TaskState.FAILED and final.error is not None
    assert final.error["outcome"] == "content_rejected"
    assert final.error["details"]["stage"] == "output"


async def test_success_without_output_is_a_failed_generation(fal: FalProvider) -> None:
    final = await finished(fal, "[sim:missing-output] a fox")
    assert final.raw_status == "COMPLETED" and final.state is TaskState.FAILED
    assert final.error is not None and final.error["code"] == GenerationFailed.code
    assert final.error["details"]["provider_code"] == "missing_output"


async def test_cancel_stops_a_live_request_and_not_a_finished_one(
    fal: FalProvider, fal_env: RunningSimulator
) -> None:
    hung = await fal.submit(submission("[sim:hang] a fox"))
    plain = await fal.submit(submission("a fox"))
    await poll_until(fal, plain.remote_id)
    stuck = await fal.poll(hung.remote_id)  # hang: never past half way
    assert stuck.state is TaskState.RUNNING and stuck.progress is not None
    assert stuck.progress <= 0.5
    assert await fal.cancel(hung.remote_id) is True
    canceled = await fal.poll(hung.remote_id)
    assert canceled.state is TaskState.CANCELED and canceled.raw_status == "COMPLETED"
    assert await fal.cancel(hung.remote_id) is False  # ALREADY_COMPLETED
    assert await fal.cancel(plain.remote_id) is False
    assert await fal.cancel("fal-ai/bytedance|no-such-request") is False  # NOT_FOUND
    puts = sorted(k for k in fal_env.state.requests if k.startswith("PUT"))
    assert puts == ["PUT /fal 202", "PUT /fal 400", "PUT /fal 404"]


async def test_slow_requests_take_longer(fal: FalProvider) -> None:
    slow = await fal.submit(submission("[sim:slow] a fox"))
    plain = await fal.submit(submission("a fox"))
    await poll_until(fal, plain.remote_id)
    assert not (await fal.poll(slow.remote_id)).state.terminal


async def test_a_request_fal_no_longer_has_is_a_failed_generation(
    fal: FalProvider, fal_env: RunningSimulator
) -> None:
    created = await fal.submit(submission("a fox"))
    sim_task(fal_env, created.remote_id).deleted = True
    with pytest.raises(GenerationFailed, match="no request") as caught:
        await fal.poll(created.remote_id)
    assert caught.value.status_code == 404
    with pytest.raises(ProviderError, match="not a fal remote id"):
        await fal.poll("no-app-here")


# -- create faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status", "words"),
    [
        ("auth", ProviderAuthError, 401, "FAL_KEY"),
        ("no-credits", InsufficientCredits, 403, "Exhausted balance"),
        ("429,retry-after=2", RateLimited, 429, "Too many requests"),
        ("429-no-retry-after", RateLimited, 429, "Too many requests"),
        ("500-create", ProviderUnavailable, 500, "Internal Server Error"),
    ],
)
async def test_create_errors_map_to_the_exception_tree(
    fal: FalProvider,
    fal_env: RunningSimulator,
    fault: str,
    error: type[ProviderError],
    status: int,
    words: str,
) -> None:
    exc = await refused_create(
        fal,
        submission(f"[sim:{fault}] a fox"),
        error,
        status,
        words,
        secret=KEY,
        simulator=fal_env,
        name="fal",
    )
    if fault.startswith("429"):
        assert exc.retry_after == (2.0 if "retry-after=" in fault else None)
    if fault == "500-create":
        assert exc.provider_code == "internal_error"


async def test_a_500_after_create_is_ambiguous(fal: FalProvider, fal_env: RunningSimulator) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await fal.submit(submission("[sim:500-after-create] a fox", reference="job_b-1"))
    assert caught.value.retryable and not caught.value.details.get("not_sent")
    assert fal_env.state.creates_by_reference["fal"] == {"job_b-1": 1}
    assert FalProvider.supports_lookup is False  # so the engine stops: see the engine test


async def test_an_unreachable_fal_certainly_got_nothing(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_FAL_QUEUE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("FAL_KEY", KEY)
    await refused_unreachable(FalProvider(settings), submission(), KEY)


async def test_a_missing_key_names_the_variable(
    fal_env: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.delenv("FAL_KEY")
    provider = FalProvider(settings)
    with pytest.raises(MissingCredentials, match="FAL_KEY"):
        await provider.submit(submission())
    await provider.aclose()


async def test_against_fal_itself_it_uses_fals_host_and_urls(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """No override: https://queue.fal.run (behind a mock transport). The key goes as ``Key``;
    the submit's returned URLs give the app; the status read asks for logs."""
    seen: list[httpx.Request] = []
    base = "https://queue.fal.run/fal-ai/kling-video/requests/r-1"

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(
                200,
                json={
                    "status": "IN_QUEUE",
                    "request_id": "r-1",
                    "response_url": base,
                    "status_url": base + "/status",
                    "cancel_url": base + "/cancel",
                    "queue_position": 0,
                },
            )
        logs = [{"message": "Generating video 40%", "level": "INFO", "source": "USER"}]
        return httpx.Response(202, json={"status": "IN_PROGRESS", "logs": logs})

    mock_transport(monkeypatch, fal_module, answer)
    monkeypatch.delenv("VIDGATE_FAL_QUEUE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    monkeypatch.setenv("FAL_KEY", KEY)
    provider = FalProvider(settings)
    created = await provider.submit(
        submission(
            model="fal:fal-ai/kling-video/v2.1/master/text-to-video",
            callback_url="https://gw.example/webhooks/fal",
        )
    )
    status = await provider.poll(created.remote_id)
    await provider.aclose()
    assert created.remote_id == "fal-ai/kling-video|r-1"
    assert (status.state, status.progress) == (TaskState.RUNNING, 0.4)
    submit, read = seen
    assert str(submit.url) == (
        "https://queue.fal.run/fal-ai/kling-video/v2.1/master/text-to-video"
        "?fal_webhook=https%3A%2F%2Fgw.example%2Fwebhooks%2Ffal%2Ffal-ai~kling-video"
    )
    assert submit.headers["authorization"] == f"Key {KEY}"
    assert str(read.url) == base + "/status?logs=1"
    assert provider.jwks_url() == "https://rest.fal.ai/.well-known/jwks.json"


async def test_reading_a_finished_result_fails_safely(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """Edges the simulator does not produce, behind a mock transport: a clean COMPLETED whose
    result read answers 500 is a transient read failure (retried, never a failed generation);
    a result fal no longer keeps (404, after an hour) is a failed generation; a submit answer
    without a request id stops rather than submit again."""
    answers: list[httpx.Response] = []

    def answer(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    mock_transport(monkeypatch, fal_module, answer)
    monkeypatch.setenv("VIDGATE_FAL_QUEUE_URL", "https://queue.example")
    monkeypatch.setenv("FAL_KEY", KEY)
    provider = FalProvider(settings)
    done = httpx.Response(200, json={"status": "COMPLETED", "logs": None, "metrics": {}})
    try:
        answers[:] = [done, httpx.Response(500, text="upstream connect error")]
        with pytest.raises(ProviderUnavailable) as flaky:
            await provider.poll("fal-ai/bytedance|r-1")
        assert flaky.value.status_code == 500 and flaky.value.retryable
        answers[:] = [done, httpx.Response(404, json={"detail": "Request not found"})]
        gone = await provider.poll("fal-ai/bytedance|r-1")
        assert gone.state is TaskState.FAILED and gone.error is not None
        assert gone.error["details"]["provider_code"] == "result_expired"
        answers[:] = [httpx.Response(200, json={"status": "IN_QUEUE"})]
        with pytest.raises(SubmitUncertain, match="no request_id"):
            await provider.submit(submission(reference="job_u-1"))
    finally:
        await provider.aclose()


# -- status and output faults ------------------------------------------------------------------


async def test_500_on_status_reads_is_retryable(fal: FalProvider) -> None:
    created = await fal.submit(submission("[sim:500-poll] a fox"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as caught:
            await fal.poll(created.remote_id)
        assert caught.value.status_code == 500 and caught.value.retryable
    assert (await poll_until(fal, created.remote_id))[-1].state is TaskState.SUCCEEDED


async def test_download_faults(fal: FalProvider, tmp_path: Path) -> None:
    prompts = {
        "flaky": "[sim:500-download] a fox",
        "expired": "[sim:expired-url] a fox",
        "stale": "a fox",
        "truncated": "[sim:truncated] a fox",
        "corrupt": "[sim:corrupt] a fox",
        "short": "[sim:wrong-duration] a fox",
        "tall": "[sim:wrong-aspect] a fox",
    }
    finals = await asyncio.gather(*(finished(fal, p) for p in prompts.values()))
    assert all(f.state is TaskState.SUCCEEDED for f in finals), finals
    outputs = {name: f.outputs[0] for name, f in zip(prompts, finals, strict=True)}

    async def fetch(name: str, output: OutputRef | None = None) -> Path:
        dest = tmp_path / f"{name}.mp4"
        await fal.download(output or outputs[name], dest)
        return dest

    # 500 on the first download: retryable, and the next one works.
    with pytest.raises(ProviderUnavailable) as flaky:
        await fetch("flaky")
    assert flaky.value.status_code == 500 and not (tmp_path / "flaky.mp4").exists()
    assert probe(await fetch("flaky")).duration == pytest.approx(2.0, abs=0.05)
    # A refused URL is looked up again in the result, once.
    stale = outputs["stale"]
    tampered = stale.model_copy(update={"url": stale.url.replace("sig=", "sig=00")})
    assert probe(await fetch("stale", tampered), decode=True).width == 854
    # Still refused after that: fal deleted it; a failed generation, not a transient error.
    with pytest.raises(GenerationFailed, match="can no longer be fetched") as expired:
        await fetch("expired")
    assert expired.value.status_code == 403 and expired.value.provider_code == "output_gone"
    # Output faults come through the download intact; the probe is what catches them.
    for name in ("truncated", "corrupt"):
        with pytest.raises(MediaUnreadable):
            probe(await fetch(name), decode=True)
    assert probe(await fetch("short")).duration == pytest.approx(1.0, abs=0.05)
    tall = probe(await fetch("tall"))
    assert (tall.width, tall.height) == (480, 854)


# -- the simulator's gate ----------------------------------------------------------------------


def test_the_simulator_requires_a_key_and_knows_its_endpoints(fal_env: RunningSimulator) -> None:
    url = api(fal_env) + SEEDANCE_PATH
    body = {"prompt": "a fox"}
    assert httpx.post(url, json=body).status_code == 401
    malformed = httpx.post(url, json=body, headers={"Authorization": "Key no-colon"})
    assert malformed.status_code == 401 and "key_id:key_secret" in malformed.json()["detail"]
    bearer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401
    unknown = httpx.post(api(fal_env) + "/fal-ai/no-such/app", json=body, headers=headers())
    assert unknown.status_code == 404
    not_json = httpx.post(url, content=b"{", headers=headers())
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["type"] == "json_invalid"
    assert fal_env.state.creates["fal"] == 0
    created = httpx.post(url, json=body, headers=headers()).json()
    assert httpx.get(created["status_url"]).status_code == 401
    other_app = created["status_url"].replace("/fal-ai/bytedance/", "/fal-ai/kling-video/")
    assert httpx.get(other_app, headers=headers()).status_code == 404
    jwks = httpx.get(api(fal_env) + "/.well-known/jwks.json").json()["keys"]
    assert [(k["kty"], k["crv"]) for k in jwks] == [("OKP", "Ed25519")] * 2
    assert jwks[0]["x"].endswith("=") and not jwks[1]["x"].endswith("=")
