"""Google Veo: the Gemini API and Vertex AI adapters, their simulator twins and the official
``google-genai`` 2.x client, held to one wire contract.

The simulator runs on a real loopback port (0.5 s generations). Each test talks HTTP to it:
vidgate's ``GoogleProvider`` (``VIDGATE_GEMINI_BASE_URL`` → ``/gemini``) and ``VertexProvider``
(``VIDGATE_VERTEX_BASE_URL`` → ``/vertex``), the job engine and the CLI end to end, and the
unmodified ``google-genai`` client. Requests are the cheapest Veo takes: 4 s at 720p. The
``live`` tests at the end call the real APIs and skip without credentials.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from typer.testing import CliRunner

from tests.conftest import live_key
from tests.support import (
    CATALOG,
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
    stopped_uncertain,
    wait_until,
    write_png,
)
from vidgate import requestlog
from vidgate.engine import Engine
from vidgate.exceptions import (
    ConfigurationError,
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
    UnsupportedRequest,
)
from vidgate.media.probe import probe
from vidgate.providers.base import OutputRef, Submission, TaskState, TaskStatus
from vidgate.providers.google import GoogleProvider, build_predict, google_error
from vidgate.providers.vertex import VertexProvider
from vidgate.routing import plan_route
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator, free_port
from vidgate.types import AttemptStatus, JobStatus, VideoRequest

KEY = "AIza-test-key-0123456789abcdef"
TOKEN = "ya29.test-token-0123456789abcdef"
PROJECT = "vidgate-test"
FAST = "google:veo-3.1-fast-generate-preview"
VERTEX_FAST = "vertex:veo-3.1-fast-generate-001"
#: What the recorders serve as a video.
ZEROS = b"\x00" * 64


# -- helpers -----------------------------------------------------------------------------------


def submission(
    prompt: str = "a red fox in snow",
    model: str = FAST,
    reference: str = "ref-1",
    **fields: Any,
) -> Submission:
    """The cheapest request Veo takes unless ``fields`` say otherwise: 4 s at 720p, 16:9."""
    values: dict[str, Any] = {"prompt": prompt, "duration": 4, "resolution": "720p"}
    return make_submission(model, reference, **{**values, **fields})


def gemini_api(simulator: RunningSimulator) -> str:
    return simulator.url + "/gemini"


def vertex_api(simulator: RunningSimulator) -> str:
    return simulator.url + "/vertex"


def body_of(simulator: RunningSimulator, remote_id: str) -> dict[str, Any]:
    """The create body the simulator received for an operation (base64 shortened)."""
    task_id = remote_id.rsplit("/", 1)[-1]
    received: dict[str, Any] = simulator.state.tasks[task_id].extra["body"]
    return received


@pytest.fixture
async def google(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[GoogleProvider]:
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", gemini_api(simulator))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    provider = GoogleProvider(settings)
    yield provider
    await provider.aclose()


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


# -- requests on the wire ----------------------------------------------------------------------


def test_bodies_come_from_the_catalogue_wire_table() -> None:
    method, path, body = build_predict(submission(negative_prompt="blurry"), {})
    assert (method, path) == (
        "POST",
        "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
    )
    assert body == {
        "instances": [{"prompt": "a red fox in snow"}],
        "parameters": {
            "negativePrompt": "blurry",
            "durationSeconds": 4,
            "aspectRatio": "16:9",
            "resolution": "720p",
            "sampleCount": 1,
        },
    }
    # 4k is spelled "4k"; first and last frames land in the instance, as given.
    image = {"bytesBase64Encoded": "AAAA", "mimeType": "image/png"}
    _, _, body = build_predict(
        submission(
            image="a.png", last_frame="b.png", resolution="4k", duration=8, aspect_ratio="9:16"
        ),
        {"start_image": image, "end_image": image},
    )
    assert body["instances"] == [
        {"prompt": "a red fox in snow", "image": image, "lastFrame": image}
    ]
    assert body["parameters"]["resolution"] == "4k"
    assert body["parameters"]["aspectRatio"] == "9:16"
    # Vertex: seed, fps and generateAudio (always sent, from the request's audio choice).
    method, path, body = build_predict(
        submission(model=VERTEX_FAST, seed=7, fps=24, audio=True),
        {},
        project="p",
        location="us-central1",
    )
    assert path == (
        "/v1/projects/p/locations/us-central1/publishers/google/models/"
        "veo-3.1-fast-generate-001:predictLongRunning"
    )
    assert body["parameters"] == {
        "durationSeconds": 4,
        "aspectRatio": "16:9",
        "resolution": "720p",
        "seed": 7,
        "fps": 24,
        "generateAudio": True,
        "sampleCount": 1,
    }
    _, _, silent = build_predict(submission(model=VERTEX_FAST), {}, project="p", location="l")
    assert silent["parameters"]["generateAudio"] is False
    assert "seed" not in silent["parameters"] and "fps" not in silent["parameters"]


async def test_requests_veo_cannot_take_are_refused_before_sending(
    google: GoogleProvider, simulator: RunningSimulator, tmp_path: Path
) -> None:
    # The Gemini API takes no seed (the catalogue maps none): refused by the builder too.
    with pytest.raises(UnsupportedRequest, match="takes no seed"):
        build_predict(submission(seed=3), {})
    with pytest.raises(InvalidRequest, match="not from Cloud Storage"):
        await google.submit(submission(image="gs://bucket/a.png"))
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 32)
    with pytest.raises(InvalidRequest, match="PNG, JPEG or WebP"):
        await google.submit(submission(image=str(gif)))
    with pytest.raises(InvalidRequest, match="ftp://"):
        await google.submit(submission(image="ftp://example.com/a.png"))
    # Extension: only a video Veo made on this API (its uri), not a local file.
    with pytest.raises(UnsupportedRequest, match="extends only videos Veo generated"):
        await google.submit(submission(video=str(tmp_path / "clip.mp4"), duration=8))
    assert simulator.state.creates["google"] == 0


def test_catalogue_rules_are_enforced_by_routing_before_any_call(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    for model in (FAST, "google:veo-3.1-generate-preview"):
        too_short = VideoRequest(prompt="a fox", duration=4, resolution="1080p", model=model)
        with pytest.raises(UnsupportedRequest, match="1080p and 4k only as 8-second clips"):
            plan_route(too_short, CATALOG)
    # By provider: no Gemini model can do 1080p in 6 s, so nothing is a candidate.
    by_provider = VideoRequest(
        prompt="a fox", duration=6, resolution="1080p", providers=("google",)
    )
    with pytest.raises(UnsupportedRequest):
        plan_route(by_provider, CATALOG)
    # 8 s at 1080p is fine; so is 4 s at 720p.
    assert plan_route(VideoRequest(prompt="a", duration=8, resolution="1080p", model=FAST), CATALOG)
    assert plan_route(VideoRequest(prompt="a", duration=4, model=FAST), CATALOG)
    assert simulator.state.requests == {}


# -- status paths (Gemini API) -----------------------------------------------------------------


async def test_text_to_video_runs_to_a_verified_mp4(
    google: GoogleProvider,
    simulator: RunningSimulator,
    calls: list[requestlog.CallRecord],
    tmp_path: Path,
) -> None:
    created = await google.submit(submission(negative_prompt="blur", reference="job_a-1"))
    assert created.state is TaskState.QUEUED
    name = created.remote_id
    assert name.startswith("models/veo-3.1-fast-generate-preview/operations/")
    assert body_of(simulator, name) == {
        "instances": [{"prompt": "a red fox in snow"}],
        "parameters": {
            "negativePrompt": "blur",
            "durationSeconds": 4,
            "aspectRatio": "16:9",
            "resolution": "720p",
            "sampleCount": 1,
        },
    }
    assert simulator.state.creates_by_reference["google"] == {"job_a-1": 1}
    seen = await poll_until(google, name)
    assert seen[0].state is TaskState.RUNNING and seen[-1].state is TaskState.SUCCEEDED
    # Veo reports no progress while it runs; the engine's own interval off Google itself.
    assert all(s.progress is None for s in seen[:-1])
    assert {s.raw_status for s in seen} == {"running", "done"}
    assert all(s.poll_after is None for s in seen)
    [output] = seen[-1].outputs
    assert output.remote_id == name and output.content_type == "video/mp4"
    assert output.url.startswith(gemini_api(simulator) + "/v1beta/files/")
    assert output.url.endswith(":download?alt=media")
    dest = tmp_path / "out.mp4"
    await google.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height, info.video_codec, info.container) == (1280, 720, "h264", "mp4")
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert info.has_audio  # Veo 3 on the Gemini API always renders sound
    # Every call is in the request log, and the key is nowhere in it.
    assert [c.method for c in calls][:2] == ["POST", "GET"]
    assert calls[0].url == gemini_api(simulator) + (
        "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning"
    )
    assert calls[1].url == gemini_api(simulator) + "/v1beta/" + name
    # The download: the sample URI (302, with the key), then the storage it redirects to.
    assert calls[-2].url.startswith(gemini_api(simulator) + "/v1beta/files/")
    assert calls[-2].status_code == 302
    assert calls[-1].url.startswith(simulator.url + "/_simulator/files/")
    assert "sig=" not in calls[-1].url
    assert all(KEY not in repr(c) for c in calls)
    # The download URI itself refuses a caller without the key (so ours carried it).
    anonymous = httpx.get(output.url)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_images_go_inline_from_files_and_fetched_urls(
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    recorders: Callable[..., Recorder],
    tmp_path: Path,
) -> None:
    png = write_png(tmp_path / "first.png")
    server = recorders(routes={"/first.png": (200, {}, png.read_bytes())})
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", gemini_api(simulator))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    # The recorder is on loopback: the SSRF guard refuses it unless an operator allows it.
    guarded = GoogleProvider(Settings())
    with pytest.raises(InvalidRequest, match="non-public address"):
        await guarded.submit(submission(image=server.url + "/first.png"))
    await guarded.aclose()
    assert server.requests == [] and simulator.state.creates["google"] == 0

    provider = GoogleProvider(Settings(ssrf_allow=["127.0.0.1"]))
    try:
        created = await provider.submit(
            submission(image=str(png), last_frame=server.url + "/first.png", duration=6)
        )
        instance = body_of(simulator, created.remote_id)["instances"][0]
        # The simulator keeps "<n bytes>" in place of the base64 it received.
        encoded = len(base64.b64encode(png.read_bytes()))
        expected = {"bytesBase64Encoded": f"<{encoded * 3 // 4} bytes>", "mimeType": "image/png"}
        assert instance["image"] == expected and instance["lastFrame"] == expected
        # The image server got a plain GET: never the API key.
        [request] = server.requests
        assert "x-goog-api-key" not in request.headers
        final = (await poll_until(provider, created.remote_id))[-1]
        assert final.state is TaskState.SUCCEEDED
    finally:
        await provider.aclose()


async def test_extension_takes_an_earlier_veo_output(
    google: GoogleProvider, simulator: RunningSimulator
) -> None:
    first = await google.submit(submission())
    [output] = (await poll_until(google, first.remote_id))[-1].outputs
    extended = await google.submit(submission(video=output.url, duration=8))
    assert body_of(simulator, extended.remote_id)["instances"][0]["video"] == {"uri": output.url}
    assert (await poll_until(google, extended.remote_id))[-1].state is TaskState.SUCCEEDED


async def test_rai_filtering_is_a_content_rejection(google: GoogleProvider) -> None:
    # The prompt is filtered: done at the first read, no samples, a reason naming the prompt.
    created = await google.submit(submission("[sim:moderation] a fox"))
    first = await google.poll(created.remote_id)
    assert first.state is TaskState.FAILED and first.raw_status == "done"
    assert first.error is not None and first.error["code"] == ContentRejected.code
    details = first.error["details"]
    assert details["stage"] == "input" and details["charged"] is False
    assert details["provider_code"] == "RAI_MEDIA_FILTERED"
    assert details["rai_filtered"] == 1 and details["support_codes"] == ["29310472"]
    assert "usage guidelines" in details["reasons"][0]
    # The generated video is filtered: it runs, then finishes filtered.
    later = await google.submit(submission("[sim:moderation-after=0.3] a fox"))
    seen = await poll_until(google, later.remote_id)
    assert seen[0].state is TaskState.RUNNING
    final = seen[-1]
    assert final.error is not None and final.error["outcome"] == "content_rejected"
    assert final.error["details"]["stage"] == "output"


def test_operations_are_read_in_every_documented_shape(settings: Settings) -> None:
    provider = GoogleProvider(settings)
    name = "models/veo-3.1-generate-preview/operations/abc"
    # RAI fields directly under ``response`` (some clients look there) count too.
    direct = provider.status_of(
        name,
        {
            "done": True,
            "response": {"raiMediaFilteredCount": 2, "raiMediaFilteredReasons": ["x", "y"]},
        },
    )
    assert direct.error is not None and direct.error["code"] == ContentRejected.code
    assert direct.error["details"]["rai_filtered"] == 2
    assert direct.error["details"]["reasons"] == ["x", "y"]
    # A sample may come inline (encodedVideo): it is fetched from the operation at download.
    inline = provider.status_of(
        name,
        {
            "done": True,
            "response": {
                "generateVideoResponse": {
                    "generatedSamples": [
                        {"video": {"encodedVideo": "AAAA", "encoding": "video/mp4"}}
                    ]
                }
            },
        },
    )
    [output] = inline.outputs
    assert (output.url, output.remote_id, output.content_type) == (
        "veo-inline:0",
        name,
        "video/mp4",
    )
    # Some samples filtered, one left: a success.
    partial = provider.status_of(
        name,
        {
            "done": True,
            "response": {
                "generateVideoResponse": {
                    "generatedSamples": [{"video": {"uri": "https://x/v1beta/files/a:download"}}],
                    "raiMediaFilteredCount": 1,
                }
            },
        },
    )
    assert partial.state is TaskState.SUCCEEDED and len(partial.outputs) == 1
    # ``done`` absent or false: still running.
    assert provider.status_of(name, {"name": name, "done": False}).state is TaskState.RUNNING


@pytest.mark.parametrize(
    ("fault", "error", "status", "retry_later"),
    [
        ("fail", GenerationFailed, "INTERNAL", True),
        ("fail=2", ProviderRejectedRequest, "INVALID_ARGUMENT", None),
        ("fail=3", GenerationFailed, "DEADLINE_EXCEEDED", True),
        ("fail=4", ContentRejected, "INVALID_ARGUMENT", None),
    ],
)
async def test_failed_operations_are_classified_by_grpc_code(
    google: GoogleProvider,
    fault: str,
    error: type[ProviderError],
    status: str,
    retry_later: bool | None,
) -> None:
    created = await google.submit(submission(f"[sim:{fault}] a fox"))
    seen = await poll_until(google, created.remote_id)
    assert seen[0].state is TaskState.RUNNING  # fails part-way
    final = seen[-1]
    assert final.state is TaskState.FAILED and final.error is not None
    assert final.error["code"] == error.code and final.error["outcome"] == error.outcome
    assert final.error["details"]["provider_code"] == status
    assert final.error["details"].get("retry_later") == retry_later
    assert final.error["details"]["charged"] is False
    assert created.remote_id in final.error["message"]


async def test_done_without_a_video_is_a_failed_generation(google: GoogleProvider) -> None:
    created = await google.submit(submission("[sim:missing-output] a fox"))
    final = (await poll_until(google, created.remote_id))[-1]
    assert final.raw_status == "done" and final.state is TaskState.FAILED
    assert final.error is not None and final.error["code"] == GenerationFailed.code
    assert final.error["details"]["provider_code"] == "missing_output"


async def test_slow_hung_and_throttled_operations_are_running_and_cannot_be_cancelled(
    google: GoogleProvider, simulator: RunningSimulator
) -> None:
    hung = await google.submit(submission("[sim:hang] a fox"))
    slow = await google.submit(submission("[sim:slow] a fox"))
    throttled = await google.submit(submission("[sim:throttled] a fox"))
    plain = await google.submit(submission("a fox"))
    await poll_until(google, plain.remote_id)
    for name in (hung.remote_id, slow.remote_id):
        status = await google.poll(name)
        assert status.state is TaskState.RUNNING and status.progress is None
    # Veo has no cancel: False, and the operation goes on.
    assert await google.cancel(hung.remote_id) is False
    assert (await google.poll(hung.remote_id)).state is TaskState.RUNNING
    assert (await poll_until(google, throttled.remote_id))[-1].state is TaskState.SUCCEEDED
    assert not [k for k in simulator.state.requests if "cancel" in k.lower()]


async def test_a_vanished_operation_is_a_failed_generation(google: GoogleProvider) -> None:
    with pytest.raises(GenerationFailed, match="no operation") as caught:
        await google.poll("models/veo-3.1-fast-generate-preview/operations/0123456789abcdef")
    assert caught.value.status_code == 404
    with pytest.raises(ProviderError, match="not a Gemini API operation"):
        await google.poll("../../etc/passwd")


async def test_against_google_itself_it_polls_every_10_seconds(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """No base-URL override: Google's own origin, here behind a mock transport."""
    import vidgate.providers.google as module

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": "models/veo-3.1-generate-preview/operations/x1"})

    mock_transport(monkeypatch, module, answer)
    monkeypatch.delenv("VIDGATE_GEMINI_BASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_SIMULATOR_URL", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)  # the second variable is read too
    provider = GoogleProvider(settings)
    status = await provider.poll("models/veo-3.1-generate-preview/operations/x1")
    await provider.aclose()
    assert (status.state, status.progress, status.poll_after) == (TaskState.RUNNING, None, 10.0)
    [request] = seen
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/veo-3.1-generate-preview/"
        "operations/x1"
    )
    assert request.headers["x-goog-api-key"] == KEY


# -- create faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status", "words"),
    [
        ("no-credits", InsufficientCredits, 429, "prepayment credits are depleted"),
        ("auth", ProviderAuthError, 400, "GEMINI_API_KEY"),
        ("invalid", ProviderRejectedRequest, 400, "INVALID_ARGUMENT"),
        ("429,retry-after=2", RateLimited, 429, "RESOURCE_EXHAUSTED"),
        ("429-no-retry-after", RateLimited, 429, "exceeded your current quota"),
        ("500-create", ProviderUnavailable, 500, "INTERNAL"),
        ("500-create=503", ProviderUnavailable, 503, "UNAVAILABLE"),
        ("moderation=2", ContentRejected, 400, "couldn't be submitted"),
    ],
)
async def test_create_errors_map_to_the_exception_tree(
    google: GoogleProvider,
    simulator: RunningSimulator,
    fault: str,
    error: type[ProviderError],
    status: int,
    words: str,
) -> None:
    exc = await refused_create(
        google,
        submission(f"[sim:{fault}] a fox"),
        error,
        status,
        words,
        secret=KEY,
        simulator=simulator,
        name="google",
    )
    if fault.startswith("429"):
        assert exc.retry_after == (2.0 if "retry-after=" in fault else None)
    if error is ContentRejected:
        assert exc.details["stage"] == "input" and exc.details["charged"] is False


async def test_a_500_after_create_is_ambiguous(
    google: GoogleProvider, simulator: RunningSimulator
) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await google.submit(submission("[sim:500-after-create] a fox", reference="job_b-1"))
    assert caught.value.retryable and not caught.value.details.get("not_sent")
    assert simulator.state.creates_by_reference["google"] == {"job_b-1": 1}
    assert GoogleProvider.supports_lookup is False


async def test_an_unreachable_google_certainly_got_nothing(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    await refused_unreachable(GoogleProvider(settings), submission(), KEY)


async def test_a_missing_key_names_the_variables(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", gemini_api(simulator))
    provider = GoogleProvider(settings)
    with pytest.raises(MissingCredentials, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        await provider.submit(submission())
    await provider.aclose()
    assert simulator.state.requests == {}


def _answer(status: int, error: dict[str, Any] | None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "https://generativelanguage.googleapis.com/v1beta/x")
    if error is None:
        return httpx.Response(status, text="<html>oops</html>", headers=headers, request=request)
    return httpx.Response(status, json={"error": error}, headers=headers, request=request)


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (
            _answer(
                429,
                {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"},
                **{"Retry-After": "7"},
            ),
            RateLimited,
        ),
        (
            _answer(403, {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}),
            ProviderAuthError,
        ),
        (
            _answer(
                400,
                {
                    "code": 400,
                    "message": "Billing is not enabled for this project.",
                    "status": "FAILED_PRECONDITION",
                },
            ),
            InsufficientCredits,
        ),
        (
            _answer(
                400,
                {
                    "code": 400,
                    "message": "User location is not supported for the API use.",
                    "status": "FAILED_PRECONDITION",
                },
            ),
            ProviderAuthError,
        ),
        (
            _answer(404, {"code": 404, "message": "x", "status": "NOT_FOUND"}),
            ProviderRejectedRequest,
        ),
        (
            _answer(504, {"code": 504, "message": "x", "status": "DEADLINE_EXCEEDED"}),
            ProviderUnavailable,
        ),
        (_answer(502, None), ProviderUnavailable),
    ],
)
def test_googles_error_envelope_refines_the_status(response: httpx.Response, error: type) -> None:
    exc = google_error("google", response)
    assert type(exc) is error
    if error is RateLimited:
        assert exc.retry_after == 7.0  # no RetryInfo: the Retry-After header


# -- status and output faults ------------------------------------------------------------------


async def test_500_on_operation_reads_is_retryable(google: GoogleProvider) -> None:
    created = await google.submit(submission("[sim:500-poll] a fox"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as caught:
            await google.poll(created.remote_id)
        assert caught.value.status_code == 500 and caught.value.retryable
    assert (await poll_until(google, created.remote_id))[-1].state is TaskState.SUCCEEDED


async def test_download_faults(google: GoogleProvider, tmp_path: Path) -> None:
    prompts = {
        "flaky": "[sim:500-download] a fox",
        "expired": "[sim:expired-url] a fox",
        "truncated": "[sim:truncated] a fox",
        "corrupt": "[sim:corrupt] a fox",
        "short": "[sim:wrong-duration] a fox",
        "tall": "[sim:wrong-aspect] a fox",
    }
    outputs = await finished_outputs(google, {n: submission(p) for n, p in prompts.items()})

    async def fetch(name: str, output: OutputRef | None = None) -> Path:
        dest = tmp_path / f"{name}.mp4"
        await google.download(output or outputs[name], dest)
        return dest

    # 500 on the first download: retryable, nothing left behind, and the next one works.
    with pytest.raises(ProviderUnavailable) as flaky:
        await fetch("flaky")
    assert flaky.value.status_code == 500 and not (tmp_path / "flaky.mp4").exists()
    assert probe(await fetch("flaky")).duration == pytest.approx(4.0, abs=0.05)
    # The redirect target refuses an expired link: retryable, not an auth or generation error.
    with pytest.raises(ProviderUnavailable, match="refused") as expired:
        await fetch("expired")
    assert expired.value.status_code == 403
    # A file that is gone for good is a failed generation.
    gone = outputs["short"].model_copy(
        update={"url": outputs["short"].url.replace("v0:download", "v7:download")}
    )
    with pytest.raises(GenerationFailed, match="gone") as missing:
        await fetch("gone", gone)
    assert missing.value.provider_code == "output_gone"
    # Output faults come through the download intact; the probe is what catches them.
    for name in ("truncated", "corrupt"):
        with pytest.raises(MediaUnreadable):
            probe(await fetch(name), decode=True)
    assert probe(await fetch("short")).duration == pytest.approx(2.0, abs=0.05)
    tall = probe(await fetch("tall"))
    assert (tall.width, tall.height) == (720, 1280)


async def test_the_key_goes_only_to_the_apis_origin(
    google: GoogleProvider,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    recorders: Callable[..., Recorder],
    tmp_path: Path,
) -> None:
    # An output on another origin is fetched without the key.
    elsewhere = recorders(routes={"/video.mp4": (200, {}, ZEROS)})
    await google.download(OutputRef(url=elsewhere.url + "/video.mp4"), tmp_path / "a.mp4")
    assert (tmp_path / "a.mp4").read_bytes() == b"\x00" * 64
    [request] = elsewhere.requests
    assert "x-goog-api-key" not in request.headers and KEY not in json.dumps(request.headers)
    # Our own origin (here a stand-in for Google) redirects to storage elsewhere: the key goes
    # to the API and is stripped from the redirected request.
    storage = recorders(routes={"/video.mp4": (200, {}, ZEROS)})
    hop = (302, {"location": storage.url + "/video.mp4"}, b"")
    api = recorders(routes={"/hop/v1beta/files/abc:download": hop})
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", api.url)
    stand_in = GoogleProvider(settings)
    try:
        await stand_in.download(
            OutputRef(url=api.url + "/hop/v1beta/files/abc:download?alt=media"),
            tmp_path / "b.mp4",
        )
    finally:
        await stand_in.aclose()
    [to_api] = api.requests
    assert to_api.headers["x-goog-api-key"] == KEY
    [to_storage] = storage.requests
    assert "x-goog-api-key" not in to_storage.headers
    assert KEY not in json.dumps(to_storage.headers)


# -- the simulator's gate and validation -------------------------------------------------------


def _create(simulator: RunningSimulator, body: dict[str, Any], **headers: str) -> httpx.Response:
    url = gemini_api(simulator) + "/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
    return httpx.post(url, json=body, headers={"x-goog-api-key": KEY, **headers})


@pytest.mark.parametrize(
    ("parameters", "instance", "words"),
    [
        ({"durationSeconds": 5}, {}, "durationSeconds"),
        ({"durationSeconds": 4, "resolution": "1080p"}, {}, "8 seconds"),
        ({"durationSeconds": 8, "resolution": "1440p"}, {}, "resolution"),
        ({"aspectRatio": "1:1"}, {}, "aspect ratio"),
        ({"seed": 3}, {}, "`seed` isn't supported"),
        ({"generateAudio": True}, {}, "`generateAudio` isn't supported"),
        ({"personGeneration": "everyone"}, {}, "personGeneration"),
        ({"sampleCount": 9}, {}, "sampleCount"),
        ({}, {"lastFrame": {"bytesBase64Encoded": "AAAA", "mimeType": "image/png"}}, "first frame"),
        ({}, {"image": {"gcsUri": "gs://b/a.png", "mimeType": "image/png"}}, "gcsUri"),
        ({}, {"video": {"uri": "https://example.com/x.mp4"}}, "Only videos generated by Veo"),
    ],
)
def test_the_simulator_validates_like_veo(
    simulator: RunningSimulator, parameters: dict[str, Any], instance: dict[str, Any], words: str
) -> None:
    body = {"instances": [{"prompt": "a fox", **instance}], "parameters": parameters}
    answer = _create(simulator, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert words in error["message"]
    assert simulator.state.creates["google"] == 0


def test_the_simulator_requires_the_key(simulator: RunningSimulator) -> None:
    body = {"instances": [{"prompt": "a fox"}], "parameters": {"durationSeconds": 4}}
    url = gemini_api(simulator) + "/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
    anonymous = httpx.post(url, json=body)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["status"] == "PERMISSION_DENIED"
    unknown = _create(simulator, body).request.url.copy_with(
        path="/gemini/v1beta/models/veo-9:predictLongRunning"
    )
    missing = httpx.post(unknown, json=body, headers={"x-goog-api-key": KEY})
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    # ``?key=`` works as well as the header.
    ok = httpx.post(url, params={"key": KEY}, json=body)
    assert ok.status_code == 200 and set(ok.json()) == {"name"}
    running = httpx.get(gemini_api(simulator) + "/v1beta/" + ok.json()["name"], params={"key": KEY})
    assert running.json() == {"name": ok.json()["name"]}  # proto3 JSON leaves done: false out


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
