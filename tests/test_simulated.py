from __future__ import annotations

import pytest

from vidgate.catalog import effective_params, load_catalog
from vidgate.exceptions import ContentRejected, ProviderError, ProviderUnavailable
from vidgate.providers.base import Submission, TaskState
from vidgate.providers.simulated import SimulatedProvider, _status_at, faults_of
from vidgate.settings import Settings
from vidgate.types import VideoRequest


def submission(prompt: str = "a fox", reference: str = "job_x-1", **kw: object) -> Submission:
    request = VideoRequest.model_validate({"prompt": prompt, "duration": 2, **kw})
    model = load_catalog().get("simulated:synth-1")
    return Submission.build(request, model, effective_params(model, request), reference)


def task(latency: float = 10.0, fault: str | None = None) -> dict[str, object]:
    faults = [fault] if fault else []
    return {"id": "sim_1", "submitted_at": 1000.0, "latency": latency, "faults": faults}


def test_state_is_a_pure_function_of_submit_time_and_latency() -> None:
    t = task()
    assert _status_at(t, 1000.5).state is TaskState.QUEUED
    running = _status_at(t, 1005.0)
    assert running.state is TaskState.RUNNING and running.progress == pytest.approx(0.5)
    done = _status_at(t, 1010.0)
    assert done.state is TaskState.SUCCEEDED
    assert done.outputs[0].url == "simulated://tasks/sim_1/output.mp4"


def test_fail_hang_and_output_moderation() -> None:
    failed = _status_at(task(fault="fail"), 1006.0)
    assert failed.state is TaskState.FAILED and failed.error is not None
    assert failed.error["code"] == "generation_failed"
    hung = _status_at(task(fault="hang"), 1_000_000.0)
    assert hung.state is TaskState.RUNNING and hung.progress == pytest.approx(0.5)
    rejected = _status_at(task(fault="moderation-output"), 1010.0)
    assert rejected.error is not None and rejected.error["code"] == "content_rejected"
    assert rejected.error["details"]["stage"] == "output"


def test_fault_markers() -> None:
    assert faults_of("a fox [simulate:hang]", {}) == {"hang"}
    assert faults_of("a fox", {"simulate": "fail, flaky-poll"}) == {"fail", "flaky-poll"}
    assert faults_of("a fox", {}) == set()
    # fault@N applies to attempt N only, so a fallback attempt can succeed.
    assert faults_of("[simulate:fail@1] [simulate:corrupt@2]", {}, attempt=1) == {"fail"}
    assert faults_of("[simulate:fail@1] [simulate:corrupt@2]", {}, attempt=2) == {"corrupt"}
    with pytest.raises(ProviderError, match="unknown simulated fault 'explode'"):
        faults_of("[simulate:explode]", {})


async def test_tasks_live_outside_the_process(settings: Settings) -> None:
    first = SimulatedProvider(settings)
    result = await first.submit(submission())
    # A different instance (as in another worker process) finds the task and its reference.
    second = SimulatedProvider(settings)
    assert (await second.poll(result.remote_id)).state in (TaskState.QUEUED, TaskState.RUNNING)
    sub = submission()
    assert await second.find_by_reference("job_x-1", sub, 0) == result.remote_id
    assert await second.find_by_reference("job_other-1", sub, 0) is None
    assert await second.cancel(result.remote_id) is True
    assert (await first.poll(result.remote_id)).state is TaskState.CANCELED


async def test_submit_faults(settings: Settings) -> None:
    provider = SimulatedProvider(settings)
    with pytest.raises(ContentRejected) as rejected:
        await provider.submit(submission("[simulate:moderation] a fox"))
    assert rejected.value.stage == "input" and not rejected.value.charged
    with pytest.raises(ProviderUnavailable) as down:
        await provider.submit(submission("[simulate:unavailable] a fox"))
    assert down.value.retryable


async def test_unknown_task_is_a_provider_error(settings: Settings) -> None:
    with pytest.raises(ProviderError, match="does not exist"):
        await SimulatedProvider(settings).poll("sim_0000")
    with pytest.raises(ProviderError, match="not a simulated task id"):
        await SimulatedProvider(settings).poll("../../etc/passwd")
