"""Contract tests for OpenAI Sora: the ``openai`` adapter, and the official openai SDK, against
the simulator's Videos API twin (``/openai/v1``), over real loopback HTTP.

OpenAI shut the Videos API down on 2026-09-24. The catalogue marks Sora retired; engine tests
reach it with ``VIDGATE_ALLOW_RETIRED=openai``. Every generation here is the smallest the
catalogue allows (4 s at 720p) and the simulator's latency is 0.5 s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import live_key
from tests.support import (
    CATALOG,
    Delivery,
    Recorder,
    make_submission,
    poll_until,
    recording,
    wait_until,
)
from tests.support import png_bytes as png
from vidgate.engine import Engine
from vidgate.engine.retry import definitely_not_created
from vidgate.exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    InvalidRequest,
    MediaUnreadable,
    MissingCredentials,
    ModelRetired,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
)
from vidgate.media.probe import probe
from vidgate.providers import openai as openai_adapter
from vidgate.providers.base import OutputRef, Submission, TaskState, TaskStatus
from vidgate.providers.openai import OpenAIProvider
from vidgate.settings import Settings
from vidgate.simulator import openai as openai_sim
from vidgate.simulator.server import RunningSimulator, simulator_in_thread
from vidgate.simulator.state import SimulatorConfig
from vidgate.types import AttemptStatus, JobStatus, VideoRequest

KEY = "sk-test-vidgate-0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"vidgate-contract-test-secret-32b").decode()


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def api(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    """The simulator, with the adapter pointed at it and a dummy key set."""
    monkeypatch.setenv("VIDGATE_OPENAI_BASE_URL", simulator.url + "/openai/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return simulator


@pytest.fixture
async def provider(api: RunningSimulator, settings: Settings) -> AsyncIterator[OpenAIProvider]:
    adapter = OpenAIProvider(settings)
    yield adapter
    await adapter.aclose()


def base_of(sim: RunningSimulator) -> str:
    return sim.url + "/openai/v1"


def submission(
    prompt: str = "a paper boat drifts on a pond",
    *,
    aspect_ratio: str = "16:9",
    image: str | None = None,
    model: str = "sora-2",
    reference: str | None = None,
) -> Submission:
    profile = CATALOG.get(f"openai:{model}")
    return make_submission(
        profile,
        reference or f"att_{secrets.token_hex(5)}-1",
        prompt=prompt,
        duration=4,
        resolution="720p",
        aspect_ratio=aspect_ratio,
        image=image,
        model=profile.ref,
    )


async def poll_until_done(
    provider: OpenAIProvider, remote_id: str, timeout: float = 15.0, interval: float = 0.05
) -> list[TaskStatus]:
    """Every status seen until the video ends (polling with a deadline)."""
    return await poll_until(provider, remote_id, timeout=timeout, interval=interval)


async def poll_for(provider: OpenAIProvider, remote_id: str, seconds: float) -> list[TaskStatus]:
    """Every status seen while polling for ``seconds`` (letting that time pass is the point:
    what a slow video looks like past the usual latency)."""
    until = time.monotonic() + seconds
    seen = []
    while time.monotonic() < until:
        seen.append(await provider.poll(remote_id))
        await asyncio.sleep(0.05)
    return seen


def sdk(sim: RunningSimulator) -> Any:
    """The official SDK, unmodified except for its base URL."""
    import openai

    return openai.OpenAI(api_key="k", base_url=base_of(sim), max_retries=2)


@contextmanager
def sora_deprecated() -> Iterator[None]:
    """openai marks every videos.* method deprecated (the API shut down on 2026-09-24)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*Sora API.*")
        yield


# -- the wire contract and the catalogue agree -----------------------------------------------


def test_catalogue_sizes_and_durations_are_ones_the_api_accepts() -> None:
    provider = CATALOG.provider("openai")
    for model in provider.models:
        assert model.wire["format"]["duration"] == "str"
        assert {f"{d:g}" for d in model.durations or []} <= set(openai_sim.SECONDS)
        sizes = {s for by_ratio in model.wire["size"].values() for s in by_ratio.values()}
        assert sizes <= set(openai_sim.SIZES[model.id]), model.id
        for snapshot in model.wire["snapshots"]:
            assert openai_sim.SNAPSHOTS[snapshot] == model.id
        assert model.lifecycle.retires_on is not None
        assert model.lifecycle.retires_on.isoformat() == "2026-09-24"


# -- happy paths ------------------------------------------------------------------------------


async def test_text_to_video_completes_and_downloads_a_real_mp4(
    provider: OpenAIProvider, api: RunningSimulator, tmp_path: Path
) -> None:
    sub = submission()
    created = await provider.submit(sub)
    assert created.remote_id.startswith("video_") and created.state is TaskState.QUEUED
    # The simulator received a multipart create with the catalogue's wire values.
    task = api.state.tasks[created.remote_id]
    assert task.extra["encoding"] == "multipart"
    assert (task.model, task.extra["seconds"], task.extra["size"]) == ("sora-2", "4", "1280x720")
    assert task.reference == sub.reference
    assert api.state.creates_by_reference["openai"][sub.reference] == 1

    seen = await poll_until_done(provider, created.remote_id)
    states = [s.state for s in seen]
    assert states[-1] is TaskState.SUCCEEDED
    assert TaskState.RUNNING in states
    progress = [s.progress for s in seen if s.progress is not None]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert any(0 < p < 1 for p in progress), "in_progress reports 0-100 as 0..1"
    assert all(s.poll_after is not None and s.poll_after > 0 for s in seen[:-1])

    done = seen[-1]
    video_ref, thumb_ref = done.outputs
    assert video_ref.url == f"{base_of(api)}/videos/{created.remote_id}/content"
    assert video_ref.remote_id == created.remote_id and video_ref.kind == "video"
    assert video_ref.expires_at is not None and video_ref.expires_at > time.time() + 3000

    dest = tmp_path / "out" / "video.mp4"
    await provider.download(video_ref, dest)
    info = probe(dest, decode=True)
    assert (info.container, info.video_codec, info.width, info.height) == ("mp4", "h264", 1280, 720)
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert info.fps == pytest.approx(24) and info.has_audio

    thumb = tmp_path / "out" / "thumb.webp"
    await provider.download(thumb_ref, thumb)
    with Image.open(thumb) as image:
        assert image.format == "WEBP"
        assert image.width / image.height == pytest.approx(16 / 9, rel=0.02)


async def test_image_to_video_sends_the_image_resized_to_the_exact_size(
    provider: OpenAIProvider, api: RunningSimulator, tmp_path: Path
) -> None:
    image = tmp_path / "first.png"
    image.write_bytes(png(64, 48))
    created = await provider.submit(submission(aspect_ratio="9:16", image=str(image)))
    task = api.state.tasks[created.remote_id]
    # The simulator refuses an input_reference that is not exactly `size`: this one passed.
    assert task.extra["size"] == "720x1280"
    assert task.extra["input_reference"]["kind"] == "file"
    assert task.extra["input_reference"]["content_type"] == "image/png"

    # ...and the simulator does refuse a mismatched image, as OpenAI does.
    refused = httpx.post(
        f"{base_of(api)}/videos",
        headers={"Authorization": "Bearer k"},
        data={"prompt": "a boat", "model": "sora-2", "seconds": "4", "size": "720x1280"},
        files={"input_reference": ("boat.png", png(64, 48), "image/png")},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "input_reference"
    assert "must match" in refused.json()["error"]["message"]


async def test_an_image_url_is_fetched_only_from_public_hosts(
    provider: OpenAIProvider, api: RunningSimulator
) -> None:
    with recording(Recorder()) as images:
        images.routes["/boat.png"] = (200, {"content-type": "image/png"}, png(100, 100))
        images.routes["/old.png"] = (301, {"location": "/boat.png"}, b"")
        url = f"{images.url}/old.png"
        with pytest.raises(InvalidRequest, match="non-public address"):
            await provider.submit(submission(image=url))
        with pytest.raises(InvalidRequest, match="non-public address"):
            await provider.submit(submission(image="http://10.1.2.3/boat.png"))
        assert images.requests == [] and api.state.creates.get("openai", 0) == 0

        # An operator may allow a host (here the test's own): the image is fetched, through
        # its redirect, without our key, and sent at the exact size.
        allowed = OpenAIProvider(Settings(ssrf_allow=["127.0.0.1"]))
        try:
            created = await allowed.submit(submission(image=url))
        finally:
            await allowed.aclose()
    assert api.state.tasks[created.remote_id].extra["input_reference"]["kind"] == "file"
    assert [r.path for r in images.requests] == ["/old.png", "/boat.png"]
    assert all("authorization" not in r.headers for r in images.requests)


# -- failures and moderation --------------------------------------------------------------------


async def test_a_failed_generation_is_generation_failed(provider: OpenAIProvider) -> None:
    created = await provider.submit(submission("[sim:fail] a boat"))
    done = (await poll_until_done(provider, created.remote_id))[-1]
    assert done.state is TaskState.FAILED and done.raw_status == "failed"
    assert done.error is not None
    assert done.error["code"] == "generation_failed" and done.error["outcome"] == "terminal"
    assert done.error["details"]["provider_code"] == "video_generation_failed"


async def test_moderation_at_create_is_an_uncharged_input_rejection(
    provider: OpenAIProvider, api: RunningSimulator
) -> None:
    with pytest.raises(ContentRejected) as caught:
        await provider.submit(submission("[sim:moderation] a boat"))
    error = caught.value
    assert (error.stage, error.charged, error.status_code) == ("input", False, 400)
    assert error.provider_code == "moderation_blocked"
    assert api.state.creates.get("openai", 0) == 0


async def test_moderation_during_generation_is_an_output_rejection(
    provider: OpenAIProvider,
) -> None:
    created = await provider.submit(submission("[sim:moderation-after=0.2] a boat"))
    done = (await poll_until_done(provider, created.remote_id))[-1]
    assert done.state is TaskState.FAILED and done.error is not None
    assert done.error["code"] == "content_rejected"
    assert done.error["details"]["stage"] == "output"
    assert done.error["details"]["provider_code"] == "moderation_blocked"


@pytest.mark.parametrize(
    ("fault", "error_type", "retry_after"),
    [
        ("429,retry-after=2", RateLimited, 2.0),
        ("429-no-retry-after", RateLimited, None),
        ("no-credits", InsufficientCredits, None),
        ("auth", ProviderAuthError, None),
        ("invalid", ProviderRejectedRequest, None),
    ],
)
async def test_create_faults_are_classified(
    provider: OpenAIProvider,
    api: RunningSimulator,
    fault: str,
    error_type: type[ProviderError],
    retry_after: float | None,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.submit(submission(f"[sim:{fault}] a boat"))
    error = caught.value
    assert type(error) is error_type
    assert error.retry_after == retry_after
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert api.state.creates.get("openai", 0) == 0
    if error_type is RateLimited:
        assert definitely_not_created(error)  # a 429 create may be sent again
    if fault == "auth":
        # OpenAI's 401 shows a masked key; none of it reaches our message.
        assert error.provider_code == "invalid_api_key"
        text = json.dumps(error.to_dict()) + str(error)
        assert KEY not in text and KEY[:8] not in text and KEY[-4:] not in text


async def test_a_500_at_create_made_nothing_and_a_second_submit_makes_one(
    provider: OpenAIProvider, api: RunningSimulator
) -> None:
    sub = submission("[sim:500-create] a boat")
    since = time.time()
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.submit(sub)
    assert caught.value.status_code == 500 and not definitely_not_created(caught.value)
    assert await provider.find_by_reference(sub.reference, sub, since) is None
    created = await provider.submit(sub)  # the fault fires once per reference
    assert await provider.find_by_reference(sub.reference, sub, since) == created.remote_id
    assert api.state.creates_by_reference["openai"] == {sub.reference: 1}


async def test_a_500_after_create_is_reconciled_by_lookup(
    provider: OpenAIProvider, api: RunningSimulator
) -> None:
    sub = submission("[sim:500-after-create] a boat")
    since = time.time()
    with pytest.raises(ProviderUnavailable):
        await provider.submit(sub)
    [made] = [t.id for t in api.state.tasks.values() if t.reference == sub.reference]
    assert await provider.find_by_reference(sub.reference, sub, since) == made
    # Another prompt, or a window after the create, finds nothing.
    other = submission("another boat", reference=sub.reference)
    assert await provider.find_by_reference(sub.reference, other, since) is None
    assert await provider.find_by_reference(sub.reference, sub, time.time() + 5) is None


async def test_lookup_reads_the_listing_page_by_page(
    provider: OpenAIProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = time.time()
    subs = [submission(f"boat number {i}") for i in range(5)]
    ids = [(await provider.submit(s)).remote_id for s in subs]
    monkeypatch.setattr(openai_adapter, "_LOOKUP_PAGE_SIZE", 2)
    assert await provider.find_by_reference(subs[0].reference, subs[0], since) == ids[0]
    # A listing too long to read back to `since` is uncertain, not "not found".
    monkeypatch.setattr(openai_adapter, "_LOOKUP_MAX_PAGES", 1)
    missing = submission("a boat never sent")
    with pytest.raises(SubmitUncertain):
        await provider.find_by_reference(missing.reference, missing, since)


async def test_status_checks_that_fail_are_retryable(provider: OpenAIProvider) -> None:
    created = await provider.submit(submission("[sim:500-poll] a boat"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as caught:
            await provider.poll(created.remote_id)
        assert caught.value.retryable and caught.value.status_code == 500
    assert (await poll_until_done(provider, created.remote_id))[-1].state is TaskState.SUCCEEDED


async def test_slow_hanging_and_throttled_videos(provider: OpenAIProvider) -> None:
    slow, hang, throttled = [
        (await provider.submit(submission(f"[sim:{fault}] a boat"))).remote_id
        for fault in ("slow", "hang", "throttled")
    ]
    # OpenAI has no throttled state: a throttled video waits as queued, then runs its course.
    waiting = await provider.poll(throttled)
    assert waiting.state is TaskState.QUEUED and waiting.progress == 0
    # Past the 0.5 s latency the slow one still runs...
    seen = await poll_for(provider, slow, 0.8)
    assert all(s.state in (TaskState.QUEUED, TaskState.RUNNING) for s in seen)
    assert seen[-1].state is TaskState.RUNNING
    # ...and a hanging one stays in progress at no more than half.
    hanging = await provider.poll(hang)
    assert hanging.state is TaskState.RUNNING
    assert hanging.progress is not None and 0 < hanging.progress <= 0.5
    assert (await poll_until_done(provider, throttled))[-1].state is TaskState.SUCCEEDED


async def test_output_faults_reach_the_downloaded_file(
    provider: OpenAIProvider, tmp_path: Path
) -> None:
    faults = ["500-download", "truncated", "corrupt", "wrong-duration", "wrong-aspect"]
    ids = {f: (await provider.submit(submission(f"[sim:{f}] a boat"))).remote_id for f in faults}
    refs: dict[str, OutputRef] = {}
    for fault, remote_id in ids.items():
        done = (await poll_until_done(provider, remote_id))[-1]
        assert done.state is TaskState.SUCCEEDED
        refs[fault] = done.outputs[0]

    first = tmp_path / "500-download.mp4"
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.download(refs["500-download"], first)
    assert caught.value.status_code == 500 and not first.exists()

    async def fetch(fault: str) -> Path:
        dest = tmp_path / f"{fault}.mp4"
        await provider.download(refs[fault], dest)
        return dest

    paths = dict(zip(faults, await asyncio.gather(*map(fetch, faults)), strict=True))
    assert probe(paths["500-download"]).duration == pytest.approx(4.0, abs=0.05)
    for broken in ("truncated", "corrupt"):
        with pytest.raises(MediaUnreadable):
            probe(paths[broken], decode=True)
    assert probe(paths["wrong-duration"]).duration == pytest.approx(2.0, abs=0.05)
    wrong = probe(paths["wrong-aspect"])
    assert (wrong.width, wrong.height) == (720, 1280)


@pytest.mark.parametrize(("fault", "status"), [("expired-url", 410), ("missing-output", 404)])
async def test_content_that_is_gone_is_a_failed_generation(
    provider: OpenAIProvider, tmp_path: Path, fault: str, status: int
) -> None:
    created = await provider.submit(submission(f"[sim:{fault}] a boat"))
    done = (await poll_until_done(provider, created.remote_id))[-1]
    assert done.state is TaskState.SUCCEEDED
    if fault == "expired-url":
        assert done.outputs[0].expires_at is not None and done.outputs[0].expires_at < time.time()
    dest = tmp_path / "gone.mp4"
    with pytest.raises(GenerationFailed) as caught:
        await provider.download(done.outputs[0], dest)
    assert caught.value.status_code == status and not caught.value.retryable
    assert caught.value.provider_code == "content_gone" and not dest.exists()


async def test_a_deleted_video_fails_its_poll(
    provider: OpenAIProvider, api: RunningSimulator
) -> None:
    created = await provider.submit(submission())
    response = httpx.delete(
        f"{base_of(api)}/videos/{created.remote_id}", headers={"Authorization": "Bearer k"}
    )
    assert response.json() == {"id": created.remote_id, "object": "video.deleted", "deleted": True}
    with pytest.raises(GenerationFailed, match="no video"):
        await provider.poll(created.remote_id)


async def test_cancel_deletes_nothing_and_says_so(
    provider: OpenAIProvider, api: RunningSimulator
) -> None:
    created = await provider.submit(submission())
    assert await provider.cancel(created.remote_id) is False
    assert not api.state.tasks[created.remote_id].deleted
    assert not any(key.startswith("DELETE") for key in api.state.requests)


async def test_a_missing_key_names_the_variable(
    provider: OpenAIProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingCredentials, match="OPENAI_API_KEY"):
        await provider.submit(submission())


async def test_a_vanished_endpoint_is_terminal_for_the_provider_not_the_users_fault(
    provider: OpenAIProvider, api: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the shutdown the Videos API's URLs answer 404; the job may fall back elsewhere.
    monkeypatch.setenv("VIDGATE_OPENAI_BASE_URL", api.url + "/openai/v0")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(submission())
    assert type(caught.value) is ProviderError and caught.value.outcome == "terminal"
    assert caught.value.status_code == 404 and "2026-09-24" in str(caught.value)


# -- the key goes to the API's origin only ------------------------------------------------------


async def test_the_key_never_leaves_the_configured_origin(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_test")
    with recording(Recorder()) as api, recording(Recorder()) as elsewhere:
        monkeypatch.setenv("VIDGATE_OPENAI_BASE_URL", api.url + "/v1")
        elsewhere.routes["/file.mp4"] = (200, {"content-type": "video/mp4"}, b"elsewhere")
        api.routes["/v1/videos/video_1/content"] = (200, {}, b"from the api")
        api.routes["/v1/videos/video_2/content"] = (
            302,
            {"location": f"{elsewhere.url}/file.mp4"},
            b"",
        )
        adapter = OpenAIProvider(settings)
        try:
            # An output on another origin is fetched without the key (or org/project ids).
            await adapter.download(OutputRef(url=f"{elsewhere.url}/file.mp4"), tmp_path / "a")
            # The API's own content endpoint gets them.
            await adapter.download(
                OutputRef(url=f"{api.url}/v1/videos/video_1/content"), tmp_path / "b"
            )
            # A redirect from the API to another origin drops the key on the way.
            await adapter.download(
                OutputRef(url=f"{api.url}/v1/videos/video_2/content"), tmp_path / "c"
            )
        finally:
            await adapter.aclose()
    assert (tmp_path / "b").read_bytes() == b"from the api"
    assert (tmp_path / "c").read_bytes() == b"elsewhere"
    assert len(elsewhere.requests) == 2
    for seen in elsewhere.requests:
        assert "authorization" not in seen.headers
        assert "openai-organization" not in seen.headers
        assert KEY not in json.dumps(seen.headers)
    for seen in api.requests:
        assert seen.headers["authorization"] == f"Bearer {KEY}"
        assert seen.headers["openai-organization"] == "org-test"
        assert seen.headers["openai-project"] == "proj_test"


# -- webhooks -------------------------------------------------------------------------------------


def resign(delivery: Delivery, timestamp: int) -> dict[str, str]:
    """A delivery's headers, correctly signed again at another time (as a replay would be)."""
    headers = dict(delivery.headers)
    signed = f"{headers['webhook-id']}.{timestamp}.".encode() + delivery.body
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers.update({"webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{digest}"})
    return headers


def test_webhook_signatures_follow_standard_webhooks() -> None:
    # The Standard Webhooks example vector (providers research, replicate-fal-veo.md 1.9).
    secret, msg, ts = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
    )
    body = b'{"test": 2432232314}'
    expected = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert openai_sim.sign_webhook(secret, msg, ts, body) == f"v1,{expected}"
    assert openai_adapter._webhook_signature(secret, msg, str(ts), body) == expected


async def test_webhooks_are_signed_delivered_and_verified(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import openai

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", WEBHOOK_SECRET)
    with recording(Recorder()) as hooks:
        config = SimulatorConfig(
            latency=0.3,
            media_dir=tmp_path / "media",
            openai_webhook_url=f"{hooks.url}/hooks/openai",
            openai_webhook_secret=WEBHOOK_SECRET,
        )
        with simulator_in_thread(config) as sim:
            monkeypatch.setenv("VIDGATE_OPENAI_BASE_URL", base_of(sim))
            adapter = OpenAIProvider(settings)
            try:
                ok = (await adapter.submit(submission("a calm boat"))).remote_id
                failed = (await adapter.submit(submission("[sim:fail] a boat"))).remote_id
                forged = (await adapter.submit(submission("[sim:webhook-forged] a boat"))).remote_id
                twice = (
                    await adapter.submit(submission("[sim:webhook-duplicate] a boat"))
                ).remote_id
                dropped = (await adapter.submit(submission("[sim:webhook-drop] a boat"))).remote_id
                wait_until(
                    lambda: (
                        len(sim.state.webhooks) == 5
                        and all(r["status"] is not None for r in sim.state.webhooks)
                    ),
                    what="five deliveries settled",
                )
                records = list(sim.state.webhooks)
            finally:
                await adapter.aclose()

    assert sorted(str(r["status"]) for r in records if r["kind"] == "openai") == [
        "200",
        "200",
        "200",
        "200",
        "dropped",
    ]
    by_video: dict[str, list[Delivery]] = {}
    for delivery in hooks.requests:
        assert delivery.path == "/hooks/openai"
        by_video.setdefault(json.loads(delivery.body)["data"]["id"], []).append(delivery)
    assert dropped not in by_video and len(by_video[twice]) == 2
    assert by_video[twice][0].headers["webhook-id"] == by_video[twice][1].headers["webhook-id"]

    # Genuine deliveries verify, with the official SDK's verifier too.
    client = openai.OpenAI(api_key="k", webhook_secret=WEBHOOK_SECRET)
    [completed] = by_video[ok]
    client.webhooks.verify_signature(completed.body, completed.headers)
    event = json.loads(completed.body)
    assert event["type"] == "video.completed" and event["object"] == "event"
    assert event["data"] == {"id": ok}, "the payload names only the video"
    parsed = adapter.parse_webhook(completed.headers, completed.body)
    assert parsed.remote_id == ok and parsed.status.state is TaskState.SUCCEEDED
    assert parsed.status.outputs[0].url.endswith(f"/videos/{ok}/content")
    [failure] = by_video[failed]
    parsed = adapter.parse_webhook(failure.headers, failure.body)
    assert parsed.remote_id == failed and parsed.status.state is TaskState.FAILED
    assert parsed.status.raw_status == "video.failed"

    # Forged, stale, early, unsigned and unverifiable deliveries are refused.
    [fake] = by_video[forged]
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(fake.body, fake.headers)
    with pytest.raises(ProviderAuthError, match="does not match"):
        adapter.parse_webhook(fake.headers, fake.body)
    now = int(time.time())
    with pytest.raises(ProviderAuthError, match="300 s"):
        adapter.parse_webhook(resign(completed, now - 301), completed.body)
    with pytest.raises(ProviderAuthError, match="300 s"):
        adapter.parse_webhook(resign(completed, now + 301), completed.body)
    assert adapter.parse_webhook(resign(completed, now - 200), completed.body).remote_id == ok
    tampered = completed.body.replace(ok.encode(), failed.encode())
    with pytest.raises(ProviderAuthError, match="does not match"):
        adapter.parse_webhook(completed.headers, tampered)
    unsigned = {k: v for k, v in completed.headers.items() if k != "webhook-signature"}
    with pytest.raises(ProviderAuthError, match="without"):
        adapter.parse_webhook(unsigned, completed.body)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(ProviderAuthError, match="does not match"):
        adapter.parse_webhook(completed.headers, completed.body)
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    with pytest.raises(ProviderAuthError, match="OPENAI_WEBHOOK_SECRET"):
        adapter.parse_webhook(completed.headers, completed.body)


# -- end to end through the engine ---------------------------------------------------------------


def sora_request(prompt: str = "a paper boat on a pond") -> VideoRequest:
    return VideoRequest(
        prompt=prompt, model="openai:sora-2", duration=4, resolution="720p", aspect_ratio="16:9"
    )


async def test_engine_job_on_retired_sora_needs_the_opt_in(
    api: RunningSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIDGATE_ALLOW_RETIRED", raising=False)
    async with Engine(settings) as engine:
        with pytest.raises(ModelRetired, match="2026-09-24") as caught:
            await engine.submit(sora_request())
        assert caught.value.code == "model_retired"
        assert engine.list_jobs() == [], "refused before a job existed"

        monkeypatch.setenv("VIDGATE_ALLOW_RETIRED", "openai")
        job = await engine.wait((await engine.submit(sora_request())).id, interval=0.05)
        assert job.status is JobStatus.COMPLETED, job.error
        assert (job.provider, job.model) == ("openai", "sora-2")
        assert job.cost_usd == pytest.approx(0.40)
        assert job.output is not None
        info = probe(Path(job.output.uri), decode=True)
        assert (info.width, info.height, info.video_codec, info.has_audio) == (
            1280,
            720,
            "h264",
            True,
        )
        assert info.duration == pytest.approx(4.0, abs=0.05)
        [attempt] = job.attempts
        assert attempt.status is AttemptStatus.SUCCEEDED
        assert attempt.remote_id is not None and attempt.remote_id.startswith("video_")
        urls = [(c.method, c.url) for c in engine.calls(job.id)]
        base = base_of(api)
        assert urls[0] == ("POST", f"{base}/videos")
        assert ("GET", f"{base}/videos/{attempt.remote_id}") in urls
        assert urls[-1] == ("GET", f"{base}/videos/{attempt.remote_id}/content")
    assert api.state.creates_by_reference["openai"] == {attempt.reference: 1}


async def test_engine_reconciles_a_500_after_create_without_paying_twice(
    api: RunningSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDGATE_ALLOW_RETIRED", "openai")
    async with Engine(settings) as engine:
        job = await engine.submit(sora_request("[sim:500-after-create] a paper boat"))
        done = await engine.wait(job.id, interval=0.05)
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert api.state.creates_by_reference["openai"] == {attempt.reference: 1}
    assert api.state.requests["POST /openai 500"] == 1


# -- the official SDK against the simulator ------------------------------------------------------


def test_the_official_sdk_runs_the_whole_videos_api(api: RunningSimulator, tmp_path: Path) -> None:
    import openai

    client = sdk(api)
    with sora_deprecated():
        video = client.videos.create(
            prompt="a paper boat", model="sora-2", seconds="4", size="1280x720"
        )
        assert (
            video.object == "video" and video.status == "queued" and video.id.startswith("video_")
        )
        assert api.state.tasks[video.id].extra["encoding"] == "multipart"
        progress = []

        def ended() -> Any:
            read = client.videos.retrieve(video.id)
            progress.append(read.progress)
            return read if read.status in ("completed", "failed") else None

        video = wait_until(ended, 15, interval=0.05, what="the video ending")
        assert video.status == "completed" and video.completed_at is not None
        assert video.expires_at is not None and video.expires_at > video.completed_at
        assert progress == sorted(progress) and progress[-1] == 100
        assert all(isinstance(p, int) for p in progress)

        content = client.videos.download_content(video.id)
        (tmp_path / "sdk.mp4").write_bytes(content.content)
        info = probe(tmp_path / "sdk.mp4")
        assert (info.container, info.width, info.height) == ("mp4", 1280, 720)
        thumb = client.videos.download_content(video.id, variant="thumbnail")
        assert thumb.content[:4] == b"RIFF" and thumb.content[8:12] == b"WEBP"
        sheet = client.videos.download_content(video.id, variant="spritesheet")
        assert sheet.content[:2] == b"\xff\xd8"

        remix = client.videos.remix(video.id, prompt="the boat, at night")
        assert remix.remixed_from_video_id == video.id and remix.id != video.id
        assert (remix.seconds, remix.size) == ("4", "1280x720")

        # Pages: the SDK follows last_id until has_more is false.
        more = [client.videos.create(prompt=f"boat {i}", size="720x1280").id for i in range(3)]
        listed = [v.id for v in client.videos.list(limit=2)]
        assert listed == [*reversed(more), remix.id, video.id]
        first_page = client.videos.list(limit=2, order="asc")
        assert [v.id for v in first_page.data] == [video.id, remix.id]
        assert first_page.has_more and first_page.last_id == remix.id

        deleted = client.videos.delete(video.id)
        assert deleted.deleted and deleted.object == "video.deleted"
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(video.id)
        assert video.id not in [v.id for v in client.videos.list()]


def test_the_official_sdk_sees_openai_errors(api: RunningSimulator) -> None:
    import openai

    client = sdk(api)
    with sora_deprecated():
        with pytest.raises(openai.BadRequestError) as bad_size:
            client.videos.create(prompt="a boat", model="sora-2", size="1792x1024")
        assert bad_size.value.param == "size" and bad_size.value.code == "invalid_value"
        assert "'720x1280' and '1280x720'" in bad_size.value.message
        with pytest.raises(openai.BadRequestError) as blocked:
            client.videos.create(prompt="[sim:moderation] a boat")
        assert blocked.value.code == "moderation_blocked"
        with pytest.raises(openai.AuthenticationError):
            client.videos.list(extra_headers={"X-Simulator-Fault": "auth"})
        with pytest.raises(openai.BadRequestError):
            client.videos.create(prompt="a boat", seconds="10")  # type: ignore[arg-type]
        # A rate limit with retry-after-ms: the SDK waits and retries, and one video is made.
        video = client.videos.create(
            prompt="a boat", extra_headers={"X-Simulator-Fault": "429,retry-after=0.1"}
        )
        assert video.status == "queued"
        # An image reference, as a file part, at exactly the size asked for.
        with_image = client.videos.create(
            prompt="a boat",
            size="720x1280",
            input_reference=("first.png", png(720, 1280), "image/png"),
        )
        assert api.state.tasks[with_image.id].extra["input_reference"]["kind"] == "file"
    assert api.state.requests["POST /openai 429"] == 1
    assert api.state.creates["openai"] == 2


def test_json_creates_and_validation(api: RunningSimulator) -> None:
    url, auth = f"{base_of(api)}/videos", {"Authorization": "Bearer k"}
    # JSON create with an image reference by data URL (what the SDK cannot send as multipart).
    data_url = "data:image/png;base64," + base64.b64encode(png(1280, 720)).decode()
    ok = httpx.post(
        url,
        headers=auth,
        json={
            "prompt": "a boat",
            "seconds": "8",
            "size": "1280x720",
            "input_reference": {"image_url": data_url},
        },
    )
    assert ok.status_code == 200 and ok.json()["seconds"] == "8"
    assert api.state.tasks[ok.json()["id"]].extra["encoding"] == "json"
    # Defaults: sora-2, 4 s, 720x1280.
    plain = httpx.post(url, headers=auth, json={"prompt": "a boat"}).json()
    assert (plain["model"], plain["seconds"], plain["size"]) == ("sora-2", "4", "720x1280")

    def error(body: dict[str, Any], headers: dict[str, str] = auth) -> dict[str, Any]:
        response = httpx.post(url, headers=headers, json=body)
        assert response.status_code in (400, 401)
        envelope: dict[str, Any] = response.json()["error"]
        assert set(envelope) == {"message", "type", "param", "code"}
        return envelope

    assert "got an integer" in error({"prompt": "a boat", "seconds": 4})["message"]
    assert error({"prompt": "a boat", "model": "sora-3"})["param"] == "model"
    assert error({"seconds": "4"})["code"] == "missing_required_parameter"
    assert error({"prompt": "a", "size": "1920x1080"})["param"] == "size"
    both = {"image_url": data_url, "file_id": "file-1"}
    assert error({"prompt": "a", "input_reference": both})["param"] == "input_reference"
    assert "Unrecognized" in error({"prompt": "a", "seed": 3})["message"]
    assert "API key" in error({"prompt": "a"}, headers={})["message"]
    # sora-2-pro takes the larger sizes, snapshots are accepted.
    pro = httpx.post(
        url, headers=auth, json={"prompt": "a", "model": "sora-2-pro", "size": "1792x1024"}
    )
    snap = httpx.post(url, headers=auth, json={"prompt": "a", "model": "sora-2-2025-12-08"})
    assert pro.status_code == snap.status_code == 200


# -- live --------------------------------------------------------------------------------------


@pytest.mark.live
async def test_live_openai_sora(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real API, for what it is worth now: OpenAI shut the Sora / Videos API down on
    2026-09-24, so after that date the create is expected to be refused, and the test records
    how (a classified vidgate error with no key in it) instead of generating a video."""
    key = live_key("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.delenv("VIDGATE_OPENAI_BASE_URL", raising=False)
    adapter = OpenAIProvider(settings)
    try:
        try:
            created = await adapter.submit(submission("a paper boat drifting on a calm pond"))
        except ProviderError as exc:
            assert key not in str(exc) and key not in json.dumps(exc.to_dict())
            if exc.status_code in (404, 410) or isinstance(exc, ProviderRejectedRequest):
                pytest.xfail(f"the Sora API is gone (shut down 2026-09-24): {exc}")
            raise
        seen = await poll_until_done(adapter, created.remote_id, timeout=900, interval=10)
        done = seen[-1]
        assert done.state is TaskState.SUCCEEDED, done.error
        dest = tmp_path / "live.mp4"
        await adapter.download(done.outputs[0], dest)
        info = probe(dest, decode=True)
        assert (info.width, info.height) == (1280, 720)
    finally:
        await adapter.aclose()
