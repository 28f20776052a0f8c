"""Google Veo: the Gemini API adapter against its simulator twin, held to one wire contract.

The simulator runs on a real loopback port (0.5 s generations). vidgate's ``GoogleProvider``
(``VIDGATE_GEMINI_BASE_URL`` → ``/gemini``) sends its requests there: bodies from the catalogue,
status paths, create faults, status and output faults, and the simulator's own gate and
validation. Requests are the cheapest Veo takes: 4 s at 720p. Vertex AI is in
``test_contract_google_vertex.py``; the official client, engine, CLI and live tests in
``test_contract_google_e2e.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    CATALOG,
    Recorder,
    finished_outputs,
    mock_transport,
    poll_until,
    refused_create,
    refused_unreachable,
    write_png,
)
from tests.support_google import FAST, KEY, VERTEX_FAST, body_of, gemini_api, submission
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
    UnsupportedRequest,
)
from vidgate.media.probe import probe
from vidgate.providers.base import OutputRef, TaskState
from vidgate.providers.google import GoogleProvider, build_predict, google_error
from vidgate.routing import plan_route
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator, free_port
from vidgate.types import VideoRequest

#: What the recorders serve as a video.
ZEROS = b"\x00" * 64


@pytest.fixture
async def google(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[GoogleProvider]:
    monkeypatch.setenv("VIDGATE_GEMINI_BASE_URL", gemini_api(simulator))
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    provider = GoogleProvider(settings)
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
