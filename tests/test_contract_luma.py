"""Contract tests for the Luma adapter (Dream Machine and Agents APIs) against the simulator's
twins of both APIs, and the official ``lumaai`` / ``luma_agents`` SDKs against the same twins.

Both sides are written to ``runway-luma-openai.md`` sections 3 and 3A. Generations take 0.5 s in
the ``simulator`` fixture; tests that only need a task to be further along move its creation time
back instead of waiting.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LIVE_ENV, live_key, poll_live
from tests.support import (
    Recorder,
    completed_video,
    make_submission,
    poll_until,
    run_job,
    wait_until,
)
from vidgate.engine import Engine
from vidgate.exceptions import (
    InsufficientCredits,
    MediaUnreadable,
    MissingCredentials,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
    VidgateError,
)
from vidgate.media.probe import probe
from vidgate.providers.base import Submission, TaskState, TaskStatus
from vidgate.providers.luma import LumaProvider, callback_token, verify_callback_token
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.simulator.state import SimTask
from vidgate.types import AttemptStatus, JobStatus, VideoRequest

#: The smallest request each API takes: Dream Machine's lowest tier is 540p (1:1 renders
#: fastest), Agents has a 360p draft tier. Both start at 5 s.
DM = {"model": "luma:ray-2", "duration": 5, "resolution": "540p", "aspect_ratio": "1:1"}
AGENTS = {"model": "luma:ray-3.2", "duration": 5, "resolution": "360p", "aspect_ratio": "16:9"}
APIS = {"dm": DM, "agents": AGENTS}
#: Where each API's tasks live in the simulator (``SimTask.provider``).
SIM_PROVIDER = {"dm": "luma", "agents": "luma-agents"}


@pytest.fixture
def luma_env(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    monkeypatch.setenv("VIDGATE_LUMA_BASE_URL", simulator.url + "/luma/dream-machine/v1")
    monkeypatch.setenv("VIDGATE_LUMA_AGENTS_BASE_URL", simulator.url + "/luma-agents/v1")
    monkeypatch.setenv("LUMAAI_API_KEY", "test-luma-key")
    monkeypatch.delenv("LUMA_AGENTS_API_KEY", raising=False)
    return simulator


@pytest.fixture
async def luma(luma_env: RunningSimulator, settings: Settings) -> AsyncIterator[LumaProvider]:
    provider = LumaProvider(settings)
    yield provider
    await provider.aclose()


def submission(
    prompt: str = "a red fox in snow",
    api: str = "dm",
    *,
    reference: str = "job_test-1",
    callback_url: str | None = None,
    **fields: Any,
) -> Submission:
    values: dict[str, Any] = {"prompt": prompt, **APIS[api], **fields}
    return make_submission(values["model"], reference, callback_url=callback_url, **values)


def sim_task(simulator: RunningSimulator, remote_id: str) -> SimTask:
    return simulator.state.tasks[remote_id.split(":", 1)[1]]


def age(simulator: RunningSimulator, remote_id: str, seconds: float = 30.0) -> SimTask:
    """Pretend the task was created ``seconds`` ago (instead of waiting for it)."""
    task = sim_task(simulator, remote_id)
    task.created_at -= seconds
    return task


async def until_done(
    provider: LumaProvider, remote_id: str, timeout: float = 15
) -> list[TaskStatus]:
    """Every status read until the task ends (polling with a deadline)."""
    return await poll_until(provider, remote_id, timeout=timeout)


def creates(simulator: RunningSimulator, api: str = "dm") -> dict[str, int]:
    return dict(simulator.state.creates_by_reference.get(SIM_PROVIDER[api], {}))


# -- the happy paths ---------------------------------------------------------------------------


async def test_dream_machine_generation_runs_to_a_verified_video(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path
) -> None:
    result = await luma.submit(submission(reference="job_dm-1"))
    assert result.remote_id.startswith("dm:") and result.state is TaskState.QUEUED
    task = sim_task(luma_env, result.remote_id)
    # What went over the wire: Luma's snake_case body, "5s", 540p, loop false, our reference.
    assert task.extra["request"] == {
        "generation_type": "video",
        "model": "ray-2",
        "prompt": "a red fox in snow",
        "aspect_ratio": "1:1",
        "resolution": "540p",
        "duration": "5s",
        "loop": False,
        "keyframes": None,
        "callback_url": None,
        "concepts": None,
    }
    assert task.reference == "job_dm-1" and creates(luma_env) == {"job_dm-1": 1}
    seen = await until_done(luma, result.remote_id)
    raw = [s.raw_status for s in seen]
    assert raw[-1] == "completed" and "dreaming" in raw
    assert all(s.progress is None for s in seen if s.state is TaskState.RUNNING)  # Luma has none
    [output] = seen[-1].outputs
    assert output.remote_id == result.remote_id and output.content_type == "video/mp4"
    dest = tmp_path / "out.mp4"
    await luma.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height, info.video_codec) == (540, 540, "h264")
    assert info.duration == pytest.approx(5.0, abs=0.05) and info.fps == pytest.approx(24)


async def test_agents_generation_runs_to_a_verified_video(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path
) -> None:
    result = await luma.submit(submission(api="agents", reference="job_ag-1"))
    assert result.remote_id.startswith("agents:")
    task = sim_task(luma_env, result.remote_id)
    assert task.extra["request"] == {
        "type": "video",
        "model": "ray-3.2",
        "prompt": "a red fox in snow",
        "aspect_ratio": "16:9",
        "video": {"duration": "5s", "resolution": "360p"},
    }
    assert creates(luma_env, "agents") == {"job_ag-1": 1}
    seen = await until_done(luma, result.remote_id)
    assert "processing" in [s.raw_status for s in seen] and seen[-1].raw_status == "completed"
    [output] = seen[-1].outputs
    # Agents presigns for one hour: the adapter says so.
    assert output.expires_at is not None and 3500 < output.expires_at - time.time() <= 3600
    dest = tmp_path / "out.mp4"
    await luma.download(output, dest)
    info = probe(dest, decode=True)
    assert (info.width, info.height) == (640, 360)
    assert info.duration == pytest.approx(5.0, abs=0.05)


async def test_keyframes_and_extension_are_sent_in_each_apis_shape(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path
) -> None:
    start, end = "https://cdn.example/start.png", "https://cdn.example/end.png"
    dm = await luma.submit(submission(image=start, last_frame=end, reference="job_kf-1"))
    assert sim_task(luma_env, dm.remote_id).extra["request"]["keyframes"] == {
        "frame0": {"type": "image", "url": start},
        "frame1": {"type": "image", "url": end},
    }
    age(luma_env, dm.remote_id)
    # Extending continues the Luma generation by its id (our remote id names it).
    extended = await luma.submit(submission(video=dm.remote_id, reference="job_kf-2"))
    assert sim_task(luma_env, extended.remote_id).extra["request"]["keyframes"] == {
        "frame0": {"type": "generation", "id": dm.remote_id.split(":", 1)[1]}
    }
    # Agents takes a local file inline (base64), and a URL as {url}.
    image = tmp_path / "first.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    agents = await luma.submit(
        submission(api="agents", image=str(image), last_frame=end, reference="job_kf-3")
    )
    video = sim_task(luma_env, agents.remote_id).extra["request"]["video"]
    assert video["start_frame"] == {"data": "<72 bytes>", "media_type": "image/png"}
    assert video["end_frame"] == {"url": end}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"image": "/tmp/local.png"}, "https URL"),
        ({"image": "data:image/png;base64,AAAA"}, "https URL"),
        ({"video": "https://cdn.example/clip.mp4?sig=secret"}, "generation id"),
        ({"video": "agents:00000000-0000-4000-8000-000000000000"}, "cannot be extended"),
    ],
)
async def test_inputs_luma_cannot_take_are_refused_before_anything_is_sent(
    luma: LumaProvider, luma_env: RunningSimulator, fields: dict[str, str], words: str
) -> None:
    with pytest.raises(ProviderRejectedRequest, match=words) as caught:
        await luma.submit(submission(**fields))
    assert "secret" not in str(caught.value)  # a signed URL's query is not repeated
    assert creates(luma_env) == {}


async def test_keys_come_from_the_documented_variables(
    luma_env: RunningSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUMAAI_API_KEY")
    provider = LumaProvider(settings)
    try:
        with pytest.raises(MissingCredentials, match="LUMAAI_API_KEY or LUMA_API_KEY"):
            await provider.submit(submission())
        with pytest.raises(MissingCredentials, match="LUMA_AGENTS_API_KEY"):
            await provider.submit(submission(api="agents"))
        # The Agents SDK's own variable works for Agents models only.
        monkeypatch.setenv("LUMA_AGENTS_API_KEY", "agents-key")
        assert (await provider.submit(submission(api="agents"))).remote_id.startswith("agents:")
        monkeypatch.setenv("LUMA_API_KEY", "dm-key")
        assert (await provider.submit(submission())).remote_id.startswith("dm:")
    finally:
        await provider.aclose()


# -- failures: at create, while generating, while reading, while downloading -------------------


@pytest.mark.parametrize("api", ["dm", "agents"])
@pytest.mark.parametrize(
    ("fault", "error", "status", "created"),
    [
        ("auth", ProviderAuthError, 401, 0),
        ("invalid", ProviderRejectedRequest, 400, 0),
        ("no-credits", InsufficientCredits, None, 0),
        ("429,retry-after=2", RateLimited, 429, 0),
        ("429-no-retry-after", RateLimited, 429, 0),
        ("500-create", ProviderUnavailable, 500, 0),
        ("500-after-create", ProviderUnavailable, 500, 1),
    ],
)
async def test_create_faults_raise_the_right_error(
    luma: LumaProvider,
    luma_env: RunningSimulator,
    api: str,
    fault: str,
    error: type[VidgateError],
    status: int | None,
    created: int,
) -> None:
    with pytest.raises(error) as caught:
        await luma.submit(submission(f"[sim:{fault}] a fox", api, reference="job_f-1"))
    exc = caught.value
    assert isinstance(exc, ProviderError) and exc.provider == "luma"
    # Dream Machine's "no credits" status is unconfirmed (the twin says 400 with a message the
    # adapter recognises); Agents documents 402.
    expected_status = status or {"dm": 400, "agents": 402}[api]
    assert exc.status_code == expected_status
    if fault.startswith("429"):
        assert exc.retry_after == (2.0 if "retry-after=2" in fault else None)
    assert type(exc) is error
    assert creates(luma_env, api) == ({"job_f-1": created} if created else {})
    assert "test-luma-key" not in str(exc) and "test-luma-key" not in repr(exc.to_dict())


@pytest.mark.parametrize(
    ("api", "fault", "code", "stage", "provider_code", "reason"),
    [
        ("dm", "fail", "generation_failed", None, "failed", "Job failed"),
        ("dm", "moderation", "content_rejected", "input", "moderation", "blacklisted"),
        ("dm", "moderation-after=0.2", "content_rejected", "input", "moderation", "prompt"),
        ("dm", "missing-output", "generation_failed", None, "output_not_found", "no video"),
        ("agents", "fail", "generation_failed", None, "generation_failed", "model error"),
        ("agents", "moderation", "content_rejected", "input", "content_moderated", "prompt"),
        (
            "agents",
            "moderation-after=0.2",
            "content_rejected",
            "output",
            "content_moderated",
            "generated",
        ),
        ("agents", "missing-output", "generation_failed", None, "output_not_found", "no video"),
    ],
)
async def test_failed_generations_are_classified(
    luma: LumaProvider,
    luma_env: RunningSimulator,
    api: str,
    fault: str,
    code: str,
    stage: str | None,
    provider_code: str,
    reason: str,
) -> None:
    result = await luma.submit(submission(f"a fox [sim:{fault}]", api))
    age(luma_env, result.remote_id)
    status = await luma.poll(result.remote_id)
    assert status.state is TaskState.FAILED and status.error is not None
    error = status.error
    assert error["code"] == code
    assert error["details"]["provider_code"] == provider_code
    assert reason in error["message"]
    if stage is not None:
        assert error["details"]["stage"] == stage
    assert error["details"].get("charged", False) is False  # Luma refunds failed generations


async def test_moderation_fails_from_the_first_read_and_names_the_keyframe(
    luma: LumaProvider, luma_env: RunningSimulator
) -> None:
    result = await luma.submit(
        submission("a fox [sim:moderation]", image="https://cdn.example/f.png")
    )
    status = await luma.poll(result.remote_id)  # no waiting: Luma fails it at once
    assert status.state is TaskState.FAILED and status.error is not None
    assert status.error["code"] == "content_rejected"
    assert "Frame moderation failed" in status.error["message"]
    assert status.error["details"] == {
        "provider": "luma",
        "provider_code": "moderation",
        "stage": "input",
        "charged": False,
    }


@pytest.mark.parametrize("api", ["dm", "agents"])
async def test_slow_and_hung_generations_keep_running_without_progress(
    luma: LumaProvider, luma_env: RunningSimulator, api: str
) -> None:
    slow = await luma.submit(submission("a fox [sim:slow]", api, reference="job_s-1"))
    hung = await luma.submit(submission("a fox [sim:hang]", api, reference="job_s-2"))
    age(luma_env, slow.remote_id, 1.0)  # done by now at normal speed; 5x slower is not
    age(luma_env, hung.remote_id, 3600)
    for remote_id in (slow.remote_id, hung.remote_id):
        status = await luma.poll(remote_id)
        assert status.state is TaskState.RUNNING and status.progress is None
        assert status.raw_status == {"dm": "dreaming", "agents": "processing"}[api]


@pytest.mark.parametrize("api", ["dm", "agents"])
async def test_status_reads_that_fail_are_retryable(
    luma: LumaProvider, luma_env: RunningSimulator, api: str
) -> None:
    result = await luma.submit(submission("a fox [sim:500-poll]", api))
    age(luma_env, result.remote_id)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as caught:
            await luma.poll(result.remote_id)
        assert caught.value.retryable and caught.value.status_code == 500
    assert (await luma.poll(result.remote_id)).state is TaskState.SUCCEEDED


async def test_a_failed_download_is_retryable_and_the_next_one_succeeds(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path
) -> None:
    result = await luma.submit(submission("a fox [sim:500-download]", "agents"))
    age(luma_env, result.remote_id)
    [output] = (await luma.poll(result.remote_id)).outputs
    dest = tmp_path / "out.mp4"
    with pytest.raises(ProviderUnavailable):
        await luma.download(output, dest)
    assert not dest.exists()  # nothing half-written
    await luma.download(output, dest)
    assert probe(dest).duration == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize("api", ["dm", "agents"])
async def test_an_expired_output_url_is_refreshed_by_polling_again(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path, api: str
) -> None:
    result = await luma.submit(submission("a fox", api))
    task = age(luma_env, result.remote_id)
    [output] = (await luma.poll(result.remote_id)).outputs
    stale = output.model_copy(update={"url": output.url.replace("sig=", "sig=0")})
    polls = task.polls
    dest = tmp_path / "out.mp4"
    await luma.download(stale, dest)  # 403, re-read the generation, fetch the fresh URL
    assert task.polls == polls + 1 and dest.stat().st_size > 0


async def test_an_output_url_that_stays_expired_is_a_retryable_error(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path
) -> None:
    result = await luma.submit(submission("a fox [sim:expired-url]"))
    task = age(luma_env, result.remote_id)
    [output] = (await luma.poll(result.remote_id)).outputs
    polls = task.polls
    with pytest.raises(ProviderUnavailable) as caught:
        await luma.download(output, tmp_path / "out.mp4")
    assert caught.value.provider_code == "output_url_expired" and caught.value.retryable
    assert task.polls == polls + 1  # it did try a fresh URL once
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("truncated", "unreadable"),
        ("corrupt", "unreadable"),
        ("wrong-duration", "duration"),
        ("wrong-aspect", "aspect"),
    ],
)
async def test_output_faults_reach_the_downloaded_file(
    luma: LumaProvider, luma_env: RunningSimulator, tmp_path: Path, fault: str, check: str
) -> None:
    result = await luma.submit(submission(f"a fox [sim:{fault}]", "agents"))
    age(luma_env, result.remote_id)
    [output] = (await luma.poll(result.remote_id)).outputs
    dest = tmp_path / "out.mp4"
    await luma.download(output, dest)  # the adapter fetches; validation is the engine's job
    if check == "unreadable":
        with pytest.raises(MediaUnreadable):
            probe(dest, decode=True)
    elif check == "duration":
        assert probe(dest).duration == pytest.approx(2.5, abs=0.05)
    else:
        info = probe(dest)
        assert (info.width, info.height) == (360, 640)


# -- cancel ------------------------------------------------------------------------------------


async def test_cancel_deletes_a_dream_machine_generation(
    luma: LumaProvider, luma_env: RunningSimulator
) -> None:
    result = await luma.submit(submission("a fox [sim:hang]"))
    assert await luma.cancel(result.remote_id) is True
    assert sim_task(luma_env, result.remote_id).deleted
    with pytest.raises(ProviderError) as caught:
        await luma.poll(result.remote_id)
    assert caught.value.code == "generation_failed" and caught.value.status_code == 404
    assert await luma.cancel(result.remote_id) is False  # already gone


async def test_agents_has_no_cancel(luma: LumaProvider, luma_env: RunningSimulator) -> None:
    result = await luma.submit(submission("a fox [sim:hang]", "agents"))
    before = sum(luma_env.state.requests.values())
    assert await luma.cancel(result.remote_id) is False
    assert sum(luma_env.state.requests.values()) == before  # nothing was even asked
    assert not (await luma.poll(result.remote_id)).state.terminal  # still going


# -- ambiguous creates: reconciled by lookup, never sent twice ---------------------------------


async def test_a_create_that_failed_after_creating_is_found_by_lookup(
    luma: LumaProvider, luma_env: RunningSimulator
) -> None:
    since = time.time() - 60
    lost = submission("a fox [sim:500-after-create]", reference="job_amb-1")
    with pytest.raises(ProviderUnavailable):
        await luma.submit(lost)
    # Someone else's generation with another prompt, and an older one with the same prompt.
    other = await luma.submit(submission("a wolf", reference="job_other-1"))
    with pytest.raises(ProviderUnavailable):
        await luma.submit(submission("a fox [sim:500-after-create]", reference="job_old-1"))
    [older] = [t for t in luma_env.state.tasks.values() if t.reference == "job_old-1"]
    older.created_at -= 600  # the same request, but long before this attempt
    found = await luma.find_by_reference("job_amb-1", lost, since)
    assert found is not None and found not in (other.remote_id, f"dm:{older.id}")
    assert sim_task(luma_env, found).reference == "job_amb-1"
    assert creates(luma_env)["job_amb-1"] == 1
    # A create that certainly made nothing is proven absent.
    nothing = submission("a fox [sim:500-create]", reference="job_amb-2")
    with pytest.raises(ProviderUnavailable):
        await luma.submit(nothing)
    assert await luma.find_by_reference("job_amb-2", nothing, since) is None


async def test_lookup_refuses_to_guess_between_identical_creates(
    luma: LumaProvider, luma_env: RunningSimulator
) -> None:
    since = time.time() - 60
    twin = submission("two identical foxes", reference="job_twin-1")
    await luma.submit(twin)
    await luma.submit(submission("two identical foxes", reference="job_twin-2"))
    with pytest.raises(SubmitUncertain, match="2 Luma generations match"):
        await luma.find_by_reference("job_twin-1", twin, since)
    # With callbacks, the URL's token names the reference, which tells them apart.
    hooked = [
        submission("hooked foxes", reference=f"job_hook-{n}", callback_url="http://127.0.0.1:9/h")
        for n in (1, 2)
    ]
    ids = [(await luma.submit(s)).remote_id for s in hooked]
    assert await luma.find_by_reference("job_hook-2", hooked[1], since) == ids[1]


async def test_lookup_still_finds_a_callback_task_after_a_restart_changed_the_secret(
    luma: LumaProvider, luma_env: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = time.time() - 60
    monkeypatch.setenv("VIDGATE_WEBHOOK_SECRET", "before-the-crash")
    lost = submission(
        "a fox [sim:500-after-create]", reference="job_rs-1", callback_url="http://127.0.0.1:9/h"
    )
    with pytest.raises(ProviderUnavailable):
        await luma.submit(lost)
    monkeypatch.delenv("VIDGATE_WEBHOOK_SECRET")  # as a new process without one would be
    found = await luma.find_by_reference("job_rs-1", lost, since)
    assert found is not None and sim_task(luma_env, found).reference == "job_rs-1"


async def test_agents_cannot_be_looked_up_so_an_ambiguous_create_stops_there(
    luma: LumaProvider, luma_env: RunningSimulator
) -> None:
    lost = submission("a fox [sim:500-after-create]", "agents", reference="job_ag-amb")
    with pytest.raises(ProviderUnavailable):
        await luma.submit(lost)
    with pytest.raises(SubmitUncertain, match="neither list"):
        await luma.find_by_reference("job_ag-amb", lost, time.time() - 60)
    assert creates(luma_env, "agents") == {"job_ag-amb": 1}


# -- callbacks ---------------------------------------------------------------------------------


async def test_callbacks_arrive_on_each_state_change_and_verify(
    luma: LumaProvider, luma_env: RunningSimulator, receiver: Recorder
) -> None:
    sub = submission(reference="job_cb-1", callback_url=receiver.url + "/webhooks/luma")
    result = await luma.submit(sub)
    sent = sim_task(luma_env, result.remote_id).extra["request"]["callback_url"]
    assert sent == f"{receiver.url}/webhooks/luma/{callback_token('job_cb-1')}"
    assert sent.rsplit("/", 1)[-1].startswith("job_cb-1.")
    deliveries = await receiver.delivered(2)  # dreaming, then completed
    events = [luma.parse_webhook(d.headers, d.body, url_token=d.token) for d in deliveries]
    assert {e.remote_id for e in events} == {result.remote_id}
    assert [e.status.raw_status for e in events] == ["dreaming", "completed"]
    assert events[-1].status.state is TaskState.SUCCEEDED
    assert events[-1].status.outputs[0].remote_id == result.remote_id
    assert verify_callback_token(deliveries[0].token) == "job_cb-1"
    # A stranger's deliveries to the same receiver are refused.
    body, token = deliveries[-1].body, deliveries[-1].token
    reference, _, mac = token.rpartition(".")
    forged = [
        token[:-4] + ("0000" if token[-4:] != "0000" else "1111"),  # a wrong MAC
        f"job_other-1.{mac}",  # someone else's reference with this MAC
        reference,  # no MAC at all
        "",
        None,
    ]
    for bad in forged:
        with pytest.raises(ProviderAuthError):
            luma.parse_webhook({}, body, url_token=bad)
    with pytest.raises(ProviderError, match="not a Generation"):
        luma.parse_webhook({}, b"[]", url_token=token)


async def test_callback_tokens_are_keyed_by_the_configured_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process_token = callback_token("job_k-1")
    monkeypatch.setenv("VIDGATE_WEBHOOK_SECRET", "shared-secret-1")
    shared = callback_token("job_k-1")
    assert shared != process_token and verify_callback_token(shared) == "job_k-1"
    with pytest.raises(ProviderAuthError):
        verify_callback_token(process_token)
    monkeypatch.setenv("VIDGATE_WEBHOOK_SECRET", "rotated")
    with pytest.raises(ProviderAuthError):
        verify_callback_token(shared)
    # References with odd characters survive the URL path.
    monkeypatch.setenv("VIDGATE_WEBHOOK_SECRET", "shared-secret-1")
    odd = callback_token("tenant/a b.c-1")
    assert "/" not in odd and verify_callback_token(odd) == "tenant/a b.c-1"


@pytest.mark.parametrize(
    "fault", ["webhook-drop", "webhook-duplicate", "webhook-late=0.3", "webhook-forged"]
)
async def test_webhook_faults(
    luma: LumaProvider, luma_env: RunningSimulator, receiver: Recorder, fault: str
) -> None:
    sub = submission(f"a fox [sim:{fault}]", callback_url=receiver.url + "/webhooks/luma")
    result = await luma.submit(sub)
    # Polling is the backstop whatever happens to the callbacks.
    assert (await until_done(luma, result.remote_id))[-1].state is TaskState.SUCCEEDED
    if fault == "webhook-drop":
        wait_until(lambda: len(luma_env.state.webhooks) >= 2, what="both callbacks dropped")
        assert {w["status"] for w in luma_env.state.webhooks} == {"dropped"}
        assert receiver.requests == []
        return
    count = 4 if fault == "webhook-duplicate" else 2
    deliveries = await receiver.delivered(count)
    if fault == "webhook-forged":
        for delivery in deliveries:
            with pytest.raises(ProviderAuthError):
                luma.parse_webhook(delivery.headers, delivery.body, url_token=delivery.token)
        return
    states = [
        str(luma.parse_webhook(d.headers, d.body, url_token=d.token).status.raw_status)
        for d in deliveries
    ]
    assert sorted(states) == sorted(["dreaming", "completed"] * (count // 2))


# -- end to end through the engine -------------------------------------------------------------


@pytest.fixture
async def engine(luma_env: RunningSimulator, settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


def engine_request(prompt: str, api: str = "dm") -> VideoRequest:
    return VideoRequest.model_validate({"prompt": prompt, **APIS[api]})


async def test_a_job_completes_on_luma_with_a_verified_output(
    engine: Engine, luma_env: RunningSimulator
) -> None:
    done = await run_job(engine, engine_request("a red fox in snow"))
    completed_video(done, (540, 540), 5.0)
    assert (done.provider, done.model) == ("luma", "ray-2")
    [attempt] = done.attempts
    assert attempt.status is AttemptStatus.SUCCEEDED
    assert attempt.remote_id is not None and attempt.remote_id.startswith("dm:")
    assert creates(luma_env) == {attempt.reference: 1}
    urls = [c.url for c in engine.calls(done.id)]
    assert any(u.endswith("/generations/video") for u in urls)
    assert all("sig=" not in u for u in urls)  # signed URLs are logged without their query


async def test_an_ambiguous_create_is_reconciled_by_lookup_with_one_create(
    engine: Engine, luma_env: RunningSimulator
) -> None:
    done = await run_job(engine, engine_request("a red fox [sim:500-after-create]"))
    assert done.status is JobStatus.COMPLETED, done.error
    [attempt] = done.attempts
    assert creates(luma_env) == {attempt.reference: 1}  # found, not sent again
    assert luma_env.state.creates["luma"] == 1
    methods = [(c.method, c.url.rsplit("/", 1)[-1]) for c in engine.calls(done.id)]
    assert ("GET", "generations") in methods  # the listing that found it


async def test_an_ambiguous_agents_create_stops_the_job_rather_than_pay_twice(
    engine: Engine, luma_env: RunningSimulator
) -> None:
    done = await run_job(engine, engine_request("a red fox [sim:500-after-create]", "agents"))
    assert done.status is JobStatus.FAILED
    assert done.error is not None and done.error.code == "submit_uncertain"
    assert luma_env.state.creates["luma-agents"] == 1


# -- the official SDKs against the twins -------------------------------------------------------


def ended(generation: Any) -> Any:
    """The generation if it has ended (for ``wait_until``), else None."""
    return generation if generation.state in ("completed", "failed") else None


def test_lumaai_sdk_runs_against_the_dream_machine_twin(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    import lumaai

    client = lumaai.LumaAI(auth_token="k", base_url=simulator.url + "/luma/dream-machine/v1")
    created = client.generations.create(
        model="ray-2", prompt="a teddy bear", resolution="540p", duration="5s", aspect_ratio="1:1"
    )
    assert created.state == "queued" and created.id
    generation = wait_until(lambda: ended(client.generations.get(created.id)), 15, interval=0.05)
    assert generation.state == "completed" and generation.assets and generation.assets.video
    (tmp_path / "sdk.mp4").write_bytes(httpx.get(generation.assets.video).content)
    info = probe(tmp_path / "sdk.mp4")
    assert (info.width, info.height) == (540, 540)
    listed = client.generations.list(limit=5)
    assert [g.id for g in listed.generations] == [created.id] and listed.has_more is False
    client.generations.delete(created.id)
    with pytest.raises(lumaai.NotFoundError):
        client.generations.get(created.id)
    with pytest.raises(lumaai.AuthenticationError):
        client.generations.create(
            model="ray-2", prompt="a bear", extra_headers={"X-Simulator-Fault": "auth"}
        )
    with pytest.raises(lumaai.BadRequestError, match="Prompt is too short"):
        client.generations.create(model="ray-2", prompt="ab")
    assert client.ping.check().message == "pong"
    assert client.credits.get().credit_balance > 0
    # The older create path (lumaai <= 1.4) is still served.
    legacy = httpx.post(
        simulator.url + "/luma/dream-machine/v1/generations",
        json={"model": "ray-flash-2", "prompt": "a bear", "duration": "9s"},
        headers={"Authorization": "Bearer k"},
    )
    assert legacy.status_code == 201 and legacy.json()["request"]["duration"] == "9s"


def test_lumaai_sdk_retries_duplicate_an_ambiguous_create(simulator: RunningSimulator) -> None:
    """Why vidgate does not use the SDKs: their retry of a create after a 500 pays twice."""
    import lumaai

    client = lumaai.LumaAI(auth_token="k", base_url=simulator.url + "/luma/dream-machine/v1")
    generation = client.generations.create(model="ray-2", prompt="a bear [sim:500-after-create]")
    assert generation.id
    assert simulator.state.creates["luma"] == 2


def test_luma_agents_sdk_runs_against_the_agents_twin(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    import luma_agents

    client = luma_agents.Luma(auth_token="k", base_url=simulator.url + "/luma-agents/v1")
    created = client.generations.create(
        model="ray-3.2",
        type="video",
        prompt="a paper boat",
        aspect_ratio="16:9",
        video={"resolution": "360p", "duration": "5s"},
    )
    assert created.state == "queued" and created.type == "video"
    generation = wait_until(lambda: ended(client.generations.get(created.id)), 15, interval=0.05)
    assert generation.state == "completed" and generation.output
    (tmp_path / "sdk.mp4").write_bytes(httpx.get(generation.output[0].url).content)
    assert probe(tmp_path / "sdk.mp4").width == 640
    with pytest.raises(luma_agents.APIStatusError) as caught:
        client.generations.create(
            model="ray-3.2",
            type="video",
            prompt="a boat",
            extra_headers={"X-Simulator-Fault": "no-credits"},
        )
    assert caught.value.status_code == 402
    # A 429 with Retry-After: the SDK waits that long and its retry goes through.
    retried = client.generations.create(
        model="ray-3.2", type="video", prompt="a boat [sim:429,retry-after=0.1]"
    )
    assert retried.state == "queued"
    failed = client.generations.create(
        model="ray-3.2", type="video", prompt="a boat [sim:moderation]"
    )
    assert client.generations.get(failed.id).failure_code == "content_moderated"
    raw = client.generations.with_raw_response.get(created.id)
    assert raw.headers["x-api-version"] == "2026-04-01"


# -- live (costs money; skipped without a key) -------------------------------------------------


@pytest.mark.live
@pytest.mark.parametrize("api", ["dm", "agents"])
async def test_live_generation(
    api: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if api == "agents" and LIVE_ENV.get("LUMA_AGENTS_API_KEY"):
        monkeypatch.setenv("LUMA_AGENTS_API_KEY", LIVE_ENV["LUMA_AGENTS_API_KEY"])
    else:
        monkeypatch.setenv("LUMAAI_API_KEY", live_key("LUMAAI_API_KEY"))
    provider = LumaProvider(settings)
    fields = {"model": "luma:ray-flash-2"} if api == "dm" else {}
    try:
        result = await provider.submit(
            submission("a paper boat drifting on a pond", api, reference="live-1", **fields)
        )
        status = await poll_live(provider, result.remote_id, every=5, within=900)
        assert status.state is TaskState.SUCCEEDED, status.error
        dest = tmp_path / "live.mp4"
        await provider.download(status.outputs[0], dest)
        assert probe(dest, decode=True).duration == pytest.approx(5.0, abs=0.6)
    finally:
        await provider.aclose()


@pytest.mark.live
async def test_live_bad_key_is_an_auth_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_key("LUMAAI_API_KEY")
    monkeypatch.setenv("LUMAAI_API_KEY", "luma-invalid-key")
    provider = LumaProvider(settings)
    try:
        with pytest.raises(ProviderAuthError):
            await provider.poll("dm:00000000-0000-4000-8000-000000000000")
    finally:
        await provider.aclose()
