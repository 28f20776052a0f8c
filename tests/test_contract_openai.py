"""Contract tests for OpenAI Sora: the ``openai`` adapter against the simulator's Videos API twin
(``/openai/v1``), over real loopback HTTP.

OpenAI shut the Videos API down on 2026-09-24; the catalogue marks Sora retired. Every generation
here is the smallest the catalogue allows (4 s at 720p) and the simulator's latency is 0.5 s.
Webhooks are in ``test_contract_openai_webhooks.py``; the engine, the official SDK and the live
test in ``test_contract_openai_e2e.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests import support_openai
from tests.support import CATALOG, Recorder, recording
from tests.support import png_bytes as png
from tests.support_openai import KEY, base_of, poll_until_done, submission
from vidgate.engine.retry import definitely_not_created
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
)
from vidgate.media.probe import probe
from vidgate.providers import openai as openai_adapter
from vidgate.providers.base import OutputRef, TaskState, TaskStatus
from vidgate.providers.openai import OpenAIProvider
from vidgate.settings import Settings
from vidgate.simulator import openai as openai_sim
from vidgate.simulator.server import RunningSimulator

#: The fixtures this file shares with the other OpenAI contract files (pytest finds a
#: fixture by its name in the test's module).
api = support_openai.api


@pytest.fixture
async def provider(api: RunningSimulator, settings: Settings) -> AsyncIterator[OpenAIProvider]:
    adapter = OpenAIProvider(settings)
    yield adapter
    await adapter.aclose()


async def poll_for(provider: OpenAIProvider, remote_id: str, seconds: float) -> list[TaskStatus]:
    """Every status seen while polling for ``seconds`` (letting that time pass is the point:
    what a slow video looks like past the usual latency)."""
    until = time.monotonic() + seconds
    seen = []
    while time.monotonic() < until:
        seen.append(await provider.poll(remote_id))
        await asyncio.sleep(0.05)
    return seen


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
