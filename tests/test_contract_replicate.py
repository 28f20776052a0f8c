"""Replicate: the adapter, its simulator twin and the official client, held to one wire contract.

The simulator runs on a real loopback port (0.5 s generations). Each test talks HTTP to it:
vidgate's ``ReplicateProvider`` (pointed there with ``VIDGATE_REPLICATE_BASE_URL``), the job
engine and the CLI end to end, a loopback webhook receiver, and the unmodified ``replicate``
client. Requests that render are the cheapest the catalogue offers (Seedance 1 Pro, 2 s at 480p).
The ``live`` test at the end calls the real API and skips without a token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from typer.testing import CliRunner

from tests.conftest import live_key, poll_live
from tests.support import (
    CATALOG,
    Delivery,
    Recorder,
    completed_video,
    creates_after_429,
    finished_outputs,
    make_submission,
    mock_transport,
    poll_until,
    refused_create,
    refused_unreachable,
    run_job,
    wait_until,
    write_png,
)
from vidgate import requestlog
from vidgate.catalog.schema import ModelProfile
from vidgate.engine import Engine
from vidgate.exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    InvalidRequest,
    MediaUnreadable,
    MissingCredentials,
    ProviderAuthError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
    UnsupportedRequest,
)
from vidgate.media.probe import probe
from vidgate.providers import replicate as adapter
from vidgate.providers.base import OutputRef, Submission, TaskState
from vidgate.providers.replicate import ReplicateProvider, build_create, cancel_after, status_of
from vidgate.settings import Settings
from vidgate.simulator import replicate as twin
from vidgate.simulator.server import RunningSimulator, free_port
from vidgate.types import AttemptStatus, JobStatus, Mode, VideoRequest
from vidgate.webhooks import sign

KEY = "r8_test-token-0123456789abcdef"
SEEDANCE = "replicate:bytedance/seedance-1-pro"
REPLICATE_MODELS = CATALOG.provider("replicate").models
IMAGE = "https://cdn.example/first.png"
LAST = "https://cdn.example/last.png"


# -- helpers -----------------------------------------------------------------------------------


def submission(
    prompt: str = "a red fox in snow",
    model: str = SEEDANCE,
    reference: str = "ref-1",
    profile: ModelProfile | None = None,
    **fields: Any,
) -> Submission:
    """Seedance at 2 s and 480p (the cheapest render) unless ``fields`` say otherwise; other
    models at their defaults."""
    profile = profile or CATALOG.get(model)
    values: dict[str, Any] = {"prompt": prompt, "duration": profile.default_duration}
    if profile.id == "bytedance/seedance-1-pro":
        values.update(duration=2, resolution="480p")
    else:
        values.update(resolution=profile.default_resolution)
    values.update(fields)
    return make_submission(profile, reference, **values)


def api(simulator: RunningSimulator) -> str:
    return simulator.url + "/replicate"


def auth(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", **extra}


def received(simulator: RunningSimulator, remote_id: str) -> dict[str, Any]:
    """The input the simulator received for a prediction."""
    values: dict[str, Any] = simulator.state.tasks[remote_id].extra["input"]
    return values


@pytest.fixture
async def provider(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[ReplicateProvider]:
    monkeypatch.setenv("VIDGATE_REPLICATE_BASE_URL", api(simulator))
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    made = ReplicateProvider(settings)
    made.prefer_wait = 0  # tests that want the head start turn it on
    yield made
    await made.aclose()


@pytest.fixture
def fast_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replicate's 5 s minimum Cancel-After, lowered to 1 s on both sides to keep tests fast."""
    monkeypatch.setattr(twin, "MIN_CANCEL_AFTER", 1.0)
    monkeypatch.setattr(adapter, "MIN_CANCEL_AFTER", 1)


# -- the request comes from the catalogue ------------------------------------------------------


def test_inputs_come_from_the_catalogue_wire_table(tmp_path: Path) -> None:
    path, body = build_create(submission(seed=7))
    assert path == "/v1/models/bytedance/seedance-1-pro/predictions"
    assert body == {
        "input": {
            "prompt": "a red fox in snow",
            "duration": 2,
            "aspect_ratio": "16:9",
            "resolution": "480p",
            "seed": 7,
            "fps": 24,
        }
    }
    # Veo: generate_audio from the effective audio flag, last_frame, negative prompt.
    veo = submission(
        model="replicate:google/veo-3.1",
        image=IMAGE,
        last_frame=LAST,
        negative_prompt="blurry",
        aspect_ratio="9:16",
        duration=6,
        resolution="720p",
    )
    assert build_create(veo) == (
        "/v1/models/google/veo-3.1/predictions",
        {
            "input": {
                "prompt": "a red fox in snow",
                "negative_prompt": "blurry",
                "duration": 6,
                "aspect_ratio": "9:16",
                "resolution": "720p",
                "generate_audio": False,
                "image": IMAGE,
                "last_frame": LAST,
            }
        },
    )
    # Kling 2.1: resolution is its `mode` (values table), frames are start/end_image.
    kling = submission(
        model="replicate:kwaivgi/kling-v2.1", image=IMAGE, last_frame=LAST, resolution="1080p"
    )
    assert build_create(kling)[1]["input"] == {
        "prompt": "a red fox in snow",
        "duration": 5,
        "mode": "pro",
        "start_image": IMAGE,
        "end_image": LAST,
    }
    # Hailuo: no aspect ratio parameter at all, first_frame_image.
    hailuo = submission(model="replicate:minimax/hailuo-02", image=IMAGE, resolution="768p")
    assert build_create(hailuo)[1]["input"] == {
        "prompt": "a red fox in snow",
        "duration": 6,
        "resolution": "768p",
        "first_frame_image": IMAGE,
    }
    # Kling 2.5 ignores the aspect ratio with a start image, so it is not sent.
    turbo = submission(model="replicate:kwaivgi/kling-v2.5-turbo-pro", image=IMAGE)
    assert build_create(turbo)[1]["input"] == {
        "prompt": "a red fox in snow",
        "duration": 5,
        "start_image": IMAGE,
    }
    assert "aspect_ratio" in build_create(submission(model=turbo.model.ref))[1]["input"]


def test_the_mapping_is_data_not_code() -> None:
    """Change the catalogue entry and the request changes with it: names, formats, values,
    fixed parameters and the endpoint all come from ``wire``."""
    base = CATALOG.get(SEEDANCE)
    wire = {
        "create": "POST /v1/predictions",
        "version": "owner/model:" + "ab" * 32,
        "input": {"prompt": "text", "duration": "length", "aspect_ratio": "shape"},
        "format": {"duration": "str_s"},
        "values": {"aspect_ratio": {"16:9": "landscape"}},
        "fixed": {"quality": "high"},
    }
    custom = base.model_copy(update={"wire": wire})
    path, body = build_create(submission(profile=custom))
    assert path == "/v1/predictions"
    assert body == {
        "version": "owner/model:" + "ab" * 32,
        "input": {
            "text": "a red fox in snow",
            "length": "2s",
            "shape": "landscape",
            "quality": "high",
        },
    }


def test_images_are_https_urls_or_small_inline_files(tmp_path: Path) -> None:
    image = write_png(tmp_path / "first.png")
    body = build_create(submission(image=str(image)))[1]
    assert body["input"]["image"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert "aspect_ratio" not in body["input"]  # Seedance ignores it with an image
    with pytest.raises(InvalidRequest, match="https URLs"):
        build_create(submission(image="http://cdn.example/a.png"))
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * (adapter.DATA_URI_LIMIT + 1))
    with pytest.raises(InvalidRequest, match="256 KiB"):
        build_create(submission(image=str(huge)))
    with pytest.raises(InvalidRequest, match="not readable"):
        build_create(submission(image=str(tmp_path / "missing.png")))
    # hailuo-2.3 has no last-frame input: refused before anything is sent.
    no_last = submission(model="replicate:minimax/hailuo-2.3", image=IMAGE, last_frame=LAST)
    with pytest.raises(UnsupportedRequest, match="end image"):
        build_create(no_last)


def test_cancel_after_follows_the_request_deadline() -> None:
    assert cancel_after(None) is None
    assert cancel_after(2) == "5s"  # Replicate's minimum
    assert cancel_after(42.2) == "43s"
    assert twin.parse_duration("1h30m45s") == 5445
    assert twin.parse_duration("250ms") == 0.25
    assert twin.parse_duration("12") == 12
    assert twin.parse_duration("5 minutes") is None


def test_statuses_map_to_task_states() -> None:
    base = {"id": "p1", "input": {}, "logs": "", "output": None, "error": None}
    assert status_of({**base, "status": "starting"}).state is TaskState.QUEUED
    running = status_of({**base, "status": "processing", "logs": " 45%|████▌     | 45/100 [0:01]"})
    assert (running.state, running.progress) == (TaskState.RUNNING, 0.45)
    assert status_of({**base, "status": "processing", "logs": "warming up"}).progress is None
    # An output while still processing is not the answer (Prefer: wait can return that).
    early = status_of({**base, "status": "processing", "output": "https://replicate.delivery/x"})
    assert early.state is TaskState.RUNNING and early.outputs == []
    done = status_of({**base, "status": "succeeded", "output": ["https://a/x.mp4"]})
    assert [o.url for o in done.outputs] == ["https://a/x.mp4"]
    for raw in ("canceled", "aborted"):
        ended = status_of({**base, "status": raw})
        assert ended.state is TaskState.CANCELED and ended.raw_status == raw
        assert ended.error is not None and ended.error["details"]["provider_code"] == raw
    unknown = status_of({**base, "status": "booting"})
    assert unknown.state is TaskState.RUNNING


# -- the twin accepts what the catalogue sends --------------------------------------------------


CASES = [(model, mode) for model in REPLICATE_MODELS for mode in model.modes]


@pytest.mark.parametrize(
    ("model", "mode"), CASES, ids=[f"{m.id}-{mode.value}" for m, mode in CASES]
)
async def test_every_catalogue_model_and_mode_is_accepted_by_the_twin(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    tmp_path: Path,
    model: ModelProfile,
    mode: Mode,
) -> None:
    image = str(write_png(tmp_path / "first.png"))
    frames = {
        Mode.TEXT_TO_VIDEO: {},
        Mode.IMAGE_TO_VIDEO: {"image": image},
        Mode.KEYFRAMES: {"image": image, "last_frame": LAST},
    }[mode]
    extra: dict[str, Any] = {"aspect_ratio": model.default_aspect_ratio, **frames}
    if mode is Mode.KEYFRAMES and "1080p" in model.resolutions:
        extra["resolution"] = "1080p"  # kling-v2.1 takes an end image only in pro mode
    if model.seed:
        extra["seed"] = 3
    sub = submission(model=model.ref, **extra)
    created = await provider.submit(sub)
    assert received(simulator, created.remote_id) == build_create(sub)[1]["input"]
    task = simulator.state.tasks[created.remote_id]
    assert task.model == model.id and task.extra["version"] == "hidden"
    assert task.extra["model_error"] is None  # no check inside predict() fails either


# -- status paths ------------------------------------------------------------------------------


async def test_text_to_video_runs_to_a_verified_mp4(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    calls: list[requestlog.CallRecord],
    tmp_path: Path,
) -> None:
    created = await provider.submit(submission(seed=11, reference="job_a-1"))
    assert created.state is TaskState.QUEUED
    assert received(simulator, created.remote_id) == {
        "prompt": "a red fox in snow",
        "duration": 2,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "seed": 11,
        "fps": 24,
    }
    assert simulator.state.creates_by_reference["replicate"] == {"job_a-1": 1}
    headers = simulator.state.tasks[created.remote_id].extra["headers"]
    assert headers == {"prefer": None, "cancel-after": None}
    seen = await poll_until(provider, created.remote_id)
    states = [s.state for s in seen]
    assert states[0] is TaskState.QUEUED and states[-1] is TaskState.SUCCEEDED
    assert {s.raw_status for s in seen} >= {"starting", "processing", "succeeded"}
    running = [s.progress for s in seen if s.state is TaskState.RUNNING]
    assert running and all(p is not None and 0 <= p < 1 for p in running)
    assert running == sorted(running)  # read from the tqdm lines in the logs
    [output] = seen[-1].outputs
    assert output.remote_id == created.remote_id and output.content_type == "video/mp4"
    dest = tmp_path / "out.mp4"
    await provider.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height, info.video_codec, info.container) == (854, 480, "h264", "mp4")
    assert info.duration == pytest.approx(2.0, abs=0.05)
    # Every call is in the request log, and the token is nowhere in it.
    assert [c.method for c in calls][:2] == ["POST", "GET"]
    assert calls[0].url == api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
    assert calls[-1].url.startswith(simulator.url + "/_simulator/files/")
    assert all(KEY not in repr(c) for c in calls)


async def test_prefer_wait_is_a_head_start_never_the_answer(
    provider: ReplicateProvider, simulator: RunningSimulator
) -> None:
    provider.prefer_wait = 2
    started = time.monotonic()
    created = await provider.submit(submission())
    held = time.monotonic() - started
    task = simulator.state.tasks[created.remote_id]
    assert task.extra["headers"]["prefer"] == "wait=2"
    # Replicate answers as soon as the file exists, which may be before `succeeded`.
    assert created.state in (TaskState.RUNNING, TaskState.SUCCEEDED)
    assert 0.3 < held < 2.0
    final = (await poll_until(provider, created.remote_id))[-1]
    assert final.state is TaskState.SUCCEEDED and final.outputs
    # The hold is capped by the wait: a prediction that never finishes comes back unfinished.
    provider.prefer_wait = 1
    started = time.monotonic()
    hung = await provider.submit(submission("[sim:hang] a fox"))
    assert 0.9 < time.monotonic() - started < 1.8
    assert hung.state is TaskState.RUNNING
    assert await provider.cancel(hung.remote_id)
    # The raw wire: 202 and a Location while unfinished, 201 once finished.
    async with httpx.AsyncClient() as client:
        url = api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
        body = {"input": {"prompt": "[sim:hang] x", "duration": 2, "resolution": "480p"}}
        answer = await client.post(url, json=body, headers=auth(Prefer="wait=1"))
        assert answer.status_code == 202
        assert answer.headers["location"] == answer.json()["urls"]["get"]
        body["input"]["prompt"] = "x"
        answer = await client.post(url, json=body, headers=auth(Prefer="wait"))
        assert answer.status_code in (201, 202) and answer.json()["output"]
        bad = await client.post(url, json=body, headers=auth(Prefer="wait=0"))
        assert bad.status_code == 400


async def test_cancel_after_aborts_a_queued_prediction_and_cancels_a_running_one(
    provider: ReplicateProvider, simulator: RunningSimulator, fast_deadlines: None
) -> None:
    # `slow,throttled`: still `starting` (a long cold boot) when the 1 s deadline passes.
    queued = await provider.submit(submission("[sim:slow,throttled] a fox", deadline_seconds=0.5))
    running = await provider.submit(submission("[sim:hang] a fox", deadline_seconds=1))
    assert simulator.state.tasks[queued.remote_id].extra["headers"]["cancel-after"] == "1s"
    aborted, canceled = await asyncio.gather(
        poll_until(provider, queued.remote_id), poll_until(provider, running.remote_id)
    )
    assert aborted[0].raw_status == "starting"
    assert {s.raw_status for s in aborted[:-1]} == {"starting"}
    assert (aborted[-1].state, aborted[-1].raw_status) == (TaskState.CANCELED, "aborted")
    assert aborted[-1].error is not None and "aborted" in aborted[-1].error["message"]
    assert "processing" in {s.raw_status for s in canceled}
    assert (canceled[-1].state, canceled[-1].raw_status) == (TaskState.CANCELED, "canceled")
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{api(simulator)}/v1/predictions/{queued.remote_id}", headers=auth()
        )
    prediction = answer.json()
    assert prediction["deadline"] and prediction["completed_at"] == prediction["deadline"]
    assert "started_at" not in prediction and prediction["logs"] == ""
    # Replicate refuses a Cancel-After under its minimum; the adapter never sends one.
    async with httpx.AsyncClient() as client:
        url = api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
        body = {"input": {"prompt": "x", "duration": 2}}
        short = await client.post(url, json=body, headers=auth(**{"Cancel-After": "500ms"}))
    assert short.status_code == 400 and "Cancel-After" in short.json()["detail"]


def test_the_official_client_cannot_read_an_aborted_prediction(
    simulator: RunningSimulator, fast_deadlines: None
) -> None:
    """R-SDK1 types ``status`` without ``aborted`` (research 1.3): reading one fails in pydantic.
    One reason vidgate speaks HTTP itself."""
    import pydantic.v1

    client = replicate.Client(api_token="r8_x", base_url=api(simulator))
    url = api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
    body = {"input": {"prompt": "[sim:slow,throttled] x", "duration": 2}}
    created = httpx.post(url, json=body, headers=auth(**{"Cancel-After": "1s"})).json()
    wait_until(
        lambda: httpx.get(created["urls"]["get"], headers=auth()).json()["status"] == "aborted",
        what="the prediction aborting",
    )
    with pytest.raises(pydantic.v1.ValidationError, match="status"):
        client.predictions.get(created["id"])


async def test_throttled_is_a_cold_boot(provider: ReplicateProvider) -> None:
    created = await provider.submit(submission("[sim:throttled] a fox"))
    seen = await poll_until(provider, created.remote_id)
    assert seen[0].raw_status == "starting" and seen[0].state is TaskState.QUEUED
    assert seen[-1].state is TaskState.SUCCEEDED and seen[-1].outputs


@pytest.mark.parametrize(
    ("fault", "error", "code", "stage", "retry_later"),
    [
        ("fail", GenerationFailed, "PA", None, True),
        ("fail=2", GenerationFailed, None, None, False),
        ("moderation", ContentRejected, "E005", "input", None),
        ("moderation=2", ContentRejected, "flagged", "input", None),
        ("moderation-after=0.3", ContentRejected, "E005", "output", None),
    ],
)
async def test_failed_predictions_are_classified_by_their_error(
    provider: ReplicateProvider,
    fault: str,
    error: type,
    code: str | None,
    stage: str | None,
    retry_later: bool | None,
) -> None:
    created = await provider.submit(submission(f"[sim:{fault}] a fox"))
    seen = await poll_until(provider, created.remote_id)
    final = seen[-1]
    assert final.state is TaskState.FAILED and final.raw_status == "failed"
    assert final.error is not None
    assert final.error["code"] == error.code and final.error["outcome"] == error.outcome
    assert final.error["details"].get("provider_code") == code
    assert final.error["details"].get("stage") == stage
    assert final.error["details"].get("retry_later") == retry_later
    assert f"Replicate prediction {created.remote_id} failed" in final.error["message"]
    if fault == "moderation":
        assert len(seen) == 1  # failed from its first read
    if stage == "output":
        assert seen[0].state is not TaskState.FAILED


async def test_a_check_inside_the_model_is_a_failed_prediction(
    provider: ReplicateProvider, simulator: RunningSimulator
) -> None:
    """Hailuo 02 renders 10 s only at 768p: the catalogue refuses it before routing, and if it
    is sent anyway, Replicate accepts the create and the prediction fails."""
    hailuo = CATALOG.get("replicate:minimax/hailuo-02")
    loose = hailuo.model_copy(update={"rules": []})
    created = await provider.submit(submission(profile=loose, duration=10, resolution="1080p"))
    final = (await poll_until(provider, created.remote_id))[-1]
    assert final.state is TaskState.FAILED and final.error is not None
    assert final.error["code"] == GenerationFailed.code
    assert "only supported at 768p" in final.error["message"]


async def test_cancel_stops_a_live_prediction_and_leaves_a_finished_one(
    provider: ReplicateProvider,
) -> None:
    hung = await provider.submit(submission("[sim:hang] a fox"))
    finished = await provider.submit(submission("a fox"))
    await poll_until(provider, finished.remote_id)
    stuck = await provider.poll(hung.remote_id)
    assert stuck.state is TaskState.RUNNING
    assert await provider.cancel(hung.remote_id) is True
    canceled = await provider.poll(hung.remote_id)
    assert canceled.state is TaskState.CANCELED and canceled.raw_status == "canceled"
    assert await provider.cancel(finished.remote_id) is False
    assert (await provider.poll(finished.remote_id)).state is TaskState.SUCCEEDED
    assert await provider.cancel("doesnotexist") is False
    with pytest.raises(GenerationFailed, match="no prediction") as gone:
        await provider.poll("doesnotexist")
    assert gone.value.status_code == 404


async def test_slow_predictions_take_longer(provider: ReplicateProvider) -> None:
    slow = await provider.submit(submission("[sim:slow] a fox"))
    plain = await provider.submit(submission("a fox"))
    await poll_until(provider, plain.remote_id)
    assert not (await provider.poll(slow.remote_id)).state.terminal


# -- create faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status", "words"),
    [
        ("auth", ProviderAuthError, 401, "REPLICATE_API_TOKEN"),
        ("invalid", ProviderRejectedRequest, 422, "Input validation failed"),
        ("no-credits", InsufficientCredits, 402, "insufficient credit"),
        ("429,retry-after=2", RateLimited, 429, "throttled"),
        ("429-no-retry-after", RateLimited, 429, "resets in ~1s"),
        ("500-create", ProviderUnavailable, 500, "500"),
    ],
)
async def test_create_errors_map_to_the_exception_tree(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    fault: str,
    error: type,
    status: int,
    words: str,
) -> None:
    exc = await refused_create(
        provider,
        submission(f"[sim:{fault}] a fox"),
        error,
        status,
        words,
        secret=KEY,
        simulator=simulator,
        name="replicate",
    )
    if fault.startswith("429"):
        # The header when there is one, else the "resets in ~Ns" of Replicate's detail.
        assert exc.retry_after == (2.0 if "retry-after=" in fault else 1.0)


async def test_validation_errors_say_what_replicate_wants(provider: ReplicateProvider) -> None:
    """A catalogue entry that maps a field wrongly is refused by the twin, as Replicate does,
    with its invalid fields."""
    base = CATALOG.get(SEEDANCE)
    wire = {**base.wire, "input": {**base.wire["input"], "duration": "length"}}
    wrong = base.model_copy(update={"wire": wire})
    with pytest.raises(ProviderRejectedRequest, match="Additional property length") as caught:
        await provider.submit(submission(profile=wrong))
    assert caught.value.status_code == 422
    assert caught.value.provider_code == "invalid_input"
    assert caught.value.details["invalid_fields"][0]["type"] == "additional_property_not_allowed"


@pytest.mark.parametrize(
    ("path", "body", "field", "kind"),
    [
        ("models/bytedance/seedance-1-pro", {"input": {"duration": 2}}, "input", "required"),
        ("models/bytedance/seedance-1-pro", {}, "input", "required"),
        (
            "models/bytedance/seedance-1-pro",
            {"input": {"prompt": "x", "duration": 13}},
            "input.duration",
            "number_lte",
        ),
        (
            "models/google/veo-3.1",
            {"input": {"prompt": "x", "duration": 5}},
            "input.duration",
            "enum",
        ),
        (
            "models/google/veo-3.1",
            {"input": {"prompt": "x", "seed": "7"}},
            "input.seed",
            "invalid_type",
        ),
        (
            "models/kwaivgi/kling-v2.1",
            {"input": {"prompt": "x", "start_image": "ftp://a/b.png"}},
            "input.start_image",
            "format",
        ),
        ("models/kwaivgi/kling-v2.1", {"input": {"prompt": "x"}}, "input", "required"),
        (
            "models/minimax/hailuo-02",
            {"input": {"prompt": "x"}, "webhook_events_filter": ["done"]},
            "webhook_events_filter",
            "enum",
        ),
    ],
)
def test_the_twin_validates_like_replicate(
    simulator: RunningSimulator, path: str, body: dict[str, Any], field: str, kind: str
) -> None:
    answer = httpx.post(f"{api(simulator)}/v1/{path}/predictions", json=body, headers=auth())
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["title"] == "Input validation failed" and problem["status"] == 422
    assert (field, kind) in [(f["field"], f["type"]) for f in problem["invalid_fields"]]
    assert problem["detail"].startswith("- ")


def test_the_twin_knows_models_versions_and_tokens(simulator: RunningSimulator) -> None:
    body = {"input": {"prompt": "x", "duration": 2, "resolution": "480p"}}
    base = api(simulator)
    assert (
        httpx.post(f"{base}/v1/models/acme/nope/predictions", json=body, headers=auth()).status_code
        == 404
    )
    assert (
        httpx.post(f"{base}/v1/models/bytedance/seedance-1-pro/predictions", json=body).status_code
        == 401
    )
    legacy = {"Authorization": "Token r8_legacy"}
    ok = httpx.post(
        f"{base}/v1/models/bytedance/seedance-1-pro/predictions", json=body, headers=legacy
    )
    assert ok.status_code == 201 and ok.json()["version"] == "hidden"
    version = twin.MODELS["bytedance/seedance-1-pro"].version
    for given, shown in (
        (version, version),
        (f"bytedance/seedance-1-pro:{version}", version),
        ("bytedance/seedance-1-pro", "hidden"),
    ):
        pinned = httpx.post(
            f"{base}/v1/predictions", json={**body, "version": given}, headers=auth()
        )
        assert pinned.status_code == 201, pinned.text
        assert (pinned.json()["model"], pinned.json()["version"]) == (
            "bytedance/seedance-1-pro",
            shown,
        )
    bad = httpx.post(f"{base}/v1/predictions", json={**body, "version": "f" * 64}, headers=auth())
    assert bad.status_code == 422 and bad.json()["title"] == "Invalid version or not permitted"
    assert simulator.state.creates["replicate"] == 4


async def test_a_version_pinned_model_uses_v1_predictions(
    provider: ReplicateProvider, simulator: RunningSimulator
) -> None:
    base = CATALOG.get(SEEDANCE)
    version = twin.MODELS["bytedance/seedance-1-pro"].version
    pinned = base.model_copy(
        update={"wire": {**base.wire, "create": "POST /v1/predictions", "version": version}}
    )
    created = await provider.submit(submission(profile=pinned))
    assert simulator.state.tasks[created.remote_id].extra["version"] == version
    bad = base.model_copy(
        update={"wire": {**base.wire, "create": "POST /v1/predictions", "version": "ed5b1767"}}
    )
    with pytest.raises(ProviderRejectedRequest) as caught:
        await provider.submit(submission(profile=bad))
    assert caught.value.provider_code == "invalid_version"


async def test_an_unreachable_replicate_certainly_got_nothing(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_REPLICATE_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    await refused_unreachable(ReplicateProvider(settings), submission(), KEY)


async def test_a_missing_token_names_the_variable(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_REPLICATE_BASE_URL", api(simulator))
    provider = ReplicateProvider(settings)
    with pytest.raises(MissingCredentials, match="REPLICATE_API_TOKEN"):
        await provider.submit(submission())
    await provider.aclose()


async def test_against_replicate_itself_it_sends_the_token_to_api_replicate_com(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """No base-URL override: https://api.replicate.com, here behind a mock transport."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"id": "p1", "status": "processing", "logs": " 30%|███       | 3/10"}
        )

    mock_transport(monkeypatch, adapter, answer)
    monkeypatch.delenv("VIDGATE_REPLICATE_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    provider = ReplicateProvider(settings)
    status = await provider.poll("p1")
    await provider.aclose()
    assert (status.state, status.progress) == (TaskState.RUNNING, 0.3)
    [request] = seen
    assert str(request.url) == "https://api.replicate.com/v1/predictions/p1"
    assert request.headers["authorization"] == f"Bearer {KEY}"


# -- the ambiguous create, looked up ---------------------------------------------------------


async def test_a_500_after_create_is_found_by_lookup(
    provider: ReplicateProvider, simulator: RunningSimulator
) -> None:
    since = time.time() - 1
    sub = submission("[sim:500-after-create] a fox", reference="job_b-1")
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.submit(sub)
    assert caught.value.retryable and not caught.value.details.get("not_sent")
    assert simulator.state.creates_by_reference["replicate"] == {"job_b-1": 1}
    [made] = simulator.state.tasks
    assert await provider.find_by_reference("job_b-1", sub, since) == made
    # Not ours: another prompt, another model, or made before `since`.
    assert await provider.find_by_reference("x", submission("a cat"), since) is None
    other = submission("[sim:500-after-create] a fox", model="replicate:google/veo-3.1-fast")
    assert await provider.find_by_reference("x", other, since) is None
    assert await provider.find_by_reference("job_b-1", sub, time.time() + 1) is None
    # Two predictions nothing tells apart: refuse to guess.
    with pytest.raises(ProviderUnavailable):
        await provider.submit(submission("[sim:500-after-create] a fox", reference="job_c-1"))
    with pytest.raises(SubmitUncertain, match="cannot tell which"):
        await provider.find_by_reference("job_b-1", sub, since)


async def test_lookup_pages_through_the_listing(
    provider: ReplicateProvider, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twin, "PAGE_SIZE", 2)
    since = time.time() - 1
    first = submission("the first fox")
    ours = await provider.submit(first)
    for n in range(5):
        await provider.submit(submission(f"fox number {n}"))
    assert await provider.find_by_reference("ref-1", first, since) == ours.remote_id
    listed = [c for c in simulator.state.requests if c.startswith("GET /replicate 200")]
    assert simulator.state.requests[listed[0]] >= 3  # three pages of two
    # The official client follows the same cursors.
    client = replicate.Client(api_token="r8_x", base_url=api(simulator))
    page = client.predictions.list()
    assert len(page.results) == 2 and page.next and page.previous is None
    second = client.predictions.list(page.next)
    assert second.previous and {p.id for p in second}.isdisjoint({p.id for p in page})


# -- status and output faults ------------------------------------------------------------------


async def test_500_on_status_reads_is_retryable(provider: ReplicateProvider) -> None:
    created = await provider.submit(submission("[sim:500-poll] a fox"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.poll(created.remote_id)
        assert caught.value.status_code == 500 and caught.value.retryable
    assert (await poll_until(provider, created.remote_id))[-1].state is TaskState.SUCCEEDED


async def test_success_without_output_is_a_failed_generation(provider: ReplicateProvider) -> None:
    created = await provider.submit(submission("[sim:missing-output] a fox"))
    final = (await poll_until(provider, created.remote_id))[-1]
    assert final.raw_status == "succeeded" and final.state is TaskState.FAILED
    assert final.error is not None and final.error["code"] == GenerationFailed.code
    assert final.error["details"]["provider_code"] == "missing_output"


async def test_data_is_removed_an_hour_after_completion(
    provider: ReplicateProvider, simulator: RunningSimulator
) -> None:
    """The simulator's hour is ``url_ttl``: run it fast, and the output is gone for good."""
    simulator.state.config.url_ttl = 0.3
    created = await provider.submit(submission())
    final = (await poll_until(provider, created.remote_id))[-1]
    assert final.state is TaskState.SUCCEEDED
    gone = (await poll_until(provider, created.remote_id, lambda s: s.state is TaskState.FAILED))[
        -1
    ]
    assert gone.raw_status == "succeeded" and gone.error is not None
    assert gone.error["details"]["provider_code"] == "output_deleted"
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{api(simulator)}/v1/predictions/{created.remote_id}", headers=auth()
        )
    removed = answer.json()
    assert removed["data_removed"] is True and removed["input"] == {} and removed["output"] is None
    # The URL read before the removal no longer works, and cannot be re-issued.
    with pytest.raises(GenerationFailed, match="cannot issue a new URL") as caught:
        await provider.download(final.outputs[0], Path(simulator.state.config.media_dir) / "x.mp4")
    assert caught.value.provider_code == "output_deleted"


async def test_download_faults(provider: ReplicateProvider, tmp_path: Path) -> None:
    prompts = {
        "flaky": "[sim:500-download] a fox",
        "expired": "[sim:expired-url] a fox",
        "truncated": "[sim:truncated] a fox",
        "corrupt": "[sim:corrupt] a fox",
        "short": "[sim:wrong-duration] a fox",
        "tall": "[sim:wrong-aspect] a fox",
    }
    outputs = await finished_outputs(provider, {n: submission(p) for n, p in prompts.items()})

    async def fetch(name: str) -> Path:
        dest = tmp_path / f"{name}.mp4"
        await provider.download(outputs[name], dest)
        return dest

    # 500 on the first download: retryable, and the next one works.
    with pytest.raises(ProviderUnavailable) as flaky:
        await fetch("flaky")
    assert flaky.value.status_code == 500 and not (tmp_path / "flaky.mp4").exists()
    assert probe(await fetch("flaky")).duration == pytest.approx(2.0, abs=0.05)
    # Expired, and Replicate has removed the data: gone for good, generate again.
    with pytest.raises(GenerationFailed, match="deletes outputs one hour") as expired:
        await fetch("expired")
    assert expired.value.status_code == 403 and not (tmp_path / "expired.mp4").exists()
    # Output faults come through the download intact; the probe is what catches them.
    for name in ("truncated", "corrupt"):
        with pytest.raises(MediaUnreadable):
            probe(await fetch(name), decode=True)
    assert probe(await fetch("short")).duration == pytest.approx(1.0, abs=0.05)
    tall = probe(await fetch("tall"))
    assert (tall.width, tall.height) == (480, 854)


async def test_data_uri_outputs_and_who_sees_the_token(
    provider: ReplicateProvider, simulator: RunningSimulator, tmp_path: Path
) -> None:
    payload = b"\x00\x00\x00\x18ftypmp42 not really a video"
    uri = "data:video/mp4;base64," + base64.b64encode(payload).decode()
    dest = tmp_path / "inline.mp4"
    await provider.download(OutputRef(url=uri, remote_id="p1"), dest)
    assert dest.read_bytes() == payload
    provider._http()
    assert provider._may_see_token(simulator.url + "/_simulator/files/x.mp4")
    assert provider._may_see_token("https://replicate.delivery/xezq/abc/out.mp4")
    assert provider._may_see_token("https://pbxt.replicate.delivery/abc/out.mp4")
    assert not provider._may_see_token("https://evil.example/replicate.delivery/out.mp4")
    assert not provider._may_see_token("http://replicate.delivery/out.mp4")


# -- webhooks ----------------------------------------------------------------------------------


def statuses(deliveries: list[Delivery]) -> list[str]:
    return [json.loads(d.body)["status"] for d in deliveries]


async def test_webhooks_are_verified_and_forged_stale_or_unsigned_ones_rejected(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    receiver: Recorder,
    settings: Settings,
) -> None:
    sub = submission().model_copy(update={"callback_url": receiver.url + "/hooks/a"})
    created = await provider.submit(sub)
    task = simulator.state.tasks[created.remote_id]
    assert task.extra["webhook"] == receiver.url + "/hooks/a"
    assert task.extra["webhook_events"] == ["start", "completed"]
    await receiver.delivered(2, path="/hooks/a")
    start, completed = receiver.to("/hooks/a")
    assert statuses([start, completed]) == ["starting", "succeeded"]
    # Genuine: verified with the secret the adapter fetched from /v1/webhooks/default/secret.
    event = provider.parse_webhook(completed.headers, completed.body)
    assert event.remote_id == created.remote_id
    assert event.status.state is TaskState.SUCCEEDED and event.status.outputs
    assert provider.parse_webhook(start.headers, start.body).status.state is TaskState.QUEUED
    assert start.headers["webhook-id"] != completed.headers["webhook-id"]
    # A fresh process that never submitted fetches the secret when the first webhook arrives.
    fresh = ReplicateProvider(settings)
    assert fresh.parse_webhook(completed.headers, completed.body).remote_id == created.remote_id
    secret = twin.webhook_secret(simulator.state)
    assert provider._secret == secret
    # Stale or from the future (more than 300 s), re-signed correctly: rejected.
    for skew in (-400, 400):
        stamp = int(time.time()) + skew
        old = {
            "webhook-id": "msg_replayed",
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, "msg_replayed", stamp, completed.body),
        }
        with pytest.raises(ProviderAuthError, match="tolerance"):
            provider.parse_webhook(old, completed.body)
    # Unsigned, or the body changed after signing: rejected.
    bare = {"content-type": "application/json"}
    with pytest.raises(ProviderAuthError, match="missing"):
        provider.parse_webhook(bare, completed.body)
    tampered = completed.body.replace(b"succeeded", b"failed!!!")
    with pytest.raises(ProviderAuthError, match="does not match"):
        provider.parse_webhook(completed.headers, tampered)
    # Forged by the simulator (webhook-forged): the signature does not verify.
    forged_sub = submission("[sim:webhook-forged] a fox").model_copy(
        update={"callback_url": receiver.url + "/hooks/forged"}
    )
    await provider.submit(forged_sub)
    await receiver.delivered(2, path="/hooks/forged")
    for forged in receiver.to("/hooks/forged"):
        with pytest.raises(ProviderAuthError, match="does not match"):
            provider.parse_webhook(forged.headers, forged.body)
    # The official client's own check agrees with ours.
    client = replicate.Client(api_token="r8_x", base_url=api(simulator))
    official = client.webhooks.default.secret()
    assert official.key == secret
    client.webhooks.validate(
        headers=completed.headers,
        body=completed.body.decode(),
        secret=official,
        tolerance=300,
    )


async def test_a_configured_secret_wins_and_a_wrong_one_rejects(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    receiver: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", twin.webhook_secret(simulator.state))
    sub = submission().model_copy(update={"callback_url": receiver.url + "/hooks/b"})
    await provider.submit(sub)
    await receiver.delivered(2, path="/hooks/b")
    hook = receiver.to("/hooks/b")[-1]
    assert provider.parse_webhook(hook.headers, hook.body).status.state is TaskState.SUCCEEDED
    assert provider._secret is None  # never fetched
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", other)
    with pytest.raises(ProviderAuthError, match="does not match"):
        provider.parse_webhook(hook.headers, hook.body)
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET", "whsec_not base64!")
    with pytest.raises(ProviderAuthError, match="not a whsec_"):
        provider.parse_webhook(hook.headers, hook.body)


def test_the_twin_sends_every_event_without_a_filter_and_duplicates_keep_their_id(
    simulator: RunningSimulator, receiver: Recorder
) -> None:
    url = api(simulator) + "/v1/models/bytedance/seedance-1-pro/predictions"
    body = {
        "input": {"prompt": "[sim:slow] x", "duration": 2, "resolution": "480p"},
        "webhook": receiver.url + "/all",
    }
    httpx.post(url, json=body, headers=auth()).raise_for_status()
    wait_until(lambda: "succeeded" in statuses(receiver.to("/all")), what="the last event")
    seen = statuses(receiver.to("/all"))
    assert seen[0] == "starting" and seen[-1] == "succeeded"
    assert "processing" in seen  # logs and output events
    bodies = [json.loads(d.body) for d in receiver.to("/all")]
    assert any(b["status"] == "processing" and b["output"] for b in bodies)  # the output event
    # logs events are throttled to one per 500 ms
    logs_events = [b for b in bodies if b["status"] == "processing" and not b["output"]]
    assert 2 <= len(logs_events) <= 6
    body["webhook"] = receiver.url + "/dup"
    body["webhook_events_filter"] = ["completed"]
    body["input"]["prompt"] = "[sim:webhook-duplicate] x"
    httpx.post(url, json=body, headers=auth()).raise_for_status()
    first, second = receiver.wait_for(2, path="/dup")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert statuses([first, second]) == ["succeeded", "succeeded"]


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
