"""Replicate: the adapter against its simulator twin, held to one wire contract.

The simulator runs on a real loopback port (0.5 s generations). vidgate's ``ReplicateProvider``
(pointed there with ``VIDGATE_REPLICATE_BASE_URL``) creates, polls, cancels, looks up and
downloads against it: status paths, create faults, the ambiguous create, status and output
faults. Requests that render are the cheapest the catalogue offers (Seedance 1 Pro, 2 s at
480p). The request built from the catalogue is in ``test_contract_replicate_inputs.py``,
webhooks in ``test_contract_replicate_webhooks.py``, the official client, engine, CLI and live
test in ``test_contract_replicate_e2e.py``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate

from tests import support_replicate
from tests.support import (
    CATALOG,
    finished_outputs,
    mock_transport,
    poll_until,
    refused_create,
    refused_unreachable,
    wait_until,
)
from tests.support_replicate import KEY, SEEDANCE, api, auth, received, submission
from vidgate import requestlog
from vidgate.exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    MediaUnreadable,
    MissingCredentials,
    ProviderAuthError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
)
from vidgate.media.probe import probe
from vidgate.providers import replicate as adapter
from vidgate.providers.base import OutputRef, TaskState
from vidgate.providers.replicate import ReplicateProvider
from vidgate.settings import Settings
from vidgate.simulator import replicate as twin
from vidgate.simulator.server import RunningSimulator, free_port

#: The fixtures this file shares with the other Replicate contract files (pytest finds a
#: fixture by its name in the test's module).
provider = support_replicate.provider


@pytest.fixture
def fast_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replicate's 5 s minimum Cancel-After, lowered to 1 s on both sides to keep tests fast."""
    monkeypatch.setattr(twin, "MIN_CANCEL_AFTER", 1.0)
    monkeypatch.setattr(adapter, "MIN_CANCEL_AFTER", 1)


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
