"""The durable job: one DBOS workflow per job, one checkpointed step per stage.

    route → submit → poll (… sleep … poll) → download → validate → thumbnail → store → complete

Each step records its result in DBOS before the next begins, so a worker that dies mid-job is
resumed from the last finished step. Steps are at-least-once, so each is written to be safe to
run twice: submit first records an intent (the attempt row, whose id is the reference we give
the provider) and looks the task up by that reference before creating another; every store
write is keyed by job, attempt or asset kind.

Step results are plain JSON-able dicts, so a checkpoint written by one version of vidgate can be
read by the next. The workflow body only branches on step results, never on the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dbos import DBOS
from dbos._error import DBOSMaxStepRetriesExceeded

from .. import requestlog
from ..catalog import effective_params
from ..exceptions import (
    GenerationFailed,
    JobTimeout,
    MediaUnreadable,
    VidgateError,
)
from ..media.geometry import dimensions_for
from ..providers.base import OutputRef, Submission, TaskState, TaskStatus
from ..routing import plan_route
from ..types import Asset, AttemptStatus, JobError, JobStatus, MediaInfo, Phase, new_id
from .runtime import current

__all__ = ["job_workflow"]

# Progress bands (percent of the whole job) for each phase.
_GENERATING_FROM, _GENERATING_TO = 5.0, 85.0
_PROGRESS = {
    Phase.ROUTING: 1.0,
    Phase.SUBMITTING: 3.0,
    Phase.DOWNLOADING: 86.0,
    Phase.VALIDATING: 92.0,
    Phase.THUMBNAILING: 95.0,
    Phase.STORING: 97.0,
}


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, VidgateError) and exc.retryable


# Polls, downloads and post-processing retry transient errors with exponential backoff.
_RETRY: dict[str, Any] = {
    "retries_allowed": True,
    "max_attempts": 6,
    "interval_seconds": 1.0,
    "backoff_rate": 2.0,
    "should_retry": _retryable,
}


def _work_path(job_id: str) -> Path:
    return current().settings.work_dir / job_id / "output.mp4"


@DBOS.step(name="vidgate.route")
async def route_step(job_id: str) -> list[dict[str, Any]]:
    rt = current()
    job = rt.store.get(job_id)
    rt.store.set_phase(job_id, Phase.ROUTING, _PROGRESS[Phase.ROUTING], "choosing a provider")
    plan = plan_route(job.request, rt.catalog)
    return [
        {"ref": c.ref, "quote": c.quote.model_dump(mode="json") if c.quote else None}
        for c in plan.candidates
    ]


@DBOS.step(name="vidgate.submit")
async def submit_step(job_id: str, number: int, candidate: dict[str, Any]) -> dict[str, Any]:
    """Create the remote task, at most once per attempt number."""
    rt = current()
    job = rt.store.get(job_id)
    model = rt.catalog.get(candidate["ref"])
    attempt = rt.store.ensure_attempt(job_id, number, model.provider, model.id)
    provider = rt.provider(model.provider)
    rt.store.set_phase(
        job_id,
        Phase.SUBMITTING,
        _PROGRESS[Phase.SUBMITTING],
        f"submitting to {model.ref}",
        provider=model.provider,
        model=model.id,
        quote=candidate["quote"],
    )
    with requestlog.bind(job_id, attempt.id):
        remote_id = attempt.remote_id or await provider.find_by_reference(attempt.reference)
        if remote_id is None:
            submission = Submission.build(
                job.request, model, effective_params(model, job.request), attempt.reference
            )
            remote_id = (await provider.submit(submission)).remote_id
    rt.store.update_attempt(
        attempt.id,
        remote_id=remote_id,
        status=AttemptStatus.RUNNING.value,
        submitted_at=datetime.now(UTC),
    )
    rt.store.set_phase(
        job_id, Phase.GENERATING, _GENERATING_FROM, f"{model.ref} accepted task {remote_id}"
    )
    return {
        "attempt_id": attempt.id,
        "provider": model.provider,
        "remote_id": remote_id,
        "quote": candidate["quote"],
    }


@DBOS.step(name="vidgate.poll", **_RETRY)
async def poll_step(job_id: str, attempt: dict[str, Any]) -> dict[str, Any]:
    rt = current()
    provider = rt.provider(attempt["provider"])
    with requestlog.bind(job_id, attempt["attempt_id"]):
        status = await provider.poll(attempt["remote_id"])
    job = rt.store.get(job_id)
    if status.state in (TaskState.QUEUED, TaskState.RUNNING):
        fraction = status.progress or 0.0
        progress = _GENERATING_FROM + fraction * (_GENERATING_TO - _GENERATING_FROM)
        rt.store.update_attempt(attempt["attempt_id"], progress=fraction)
        word = "queued at" if status.state is TaskState.QUEUED else "generating on"
        rt.store.set_progress(
            job_id, Phase.GENERATING, round(progress, 1), f"{word} {attempt['provider']}"
        )
    elapsed = (datetime.now(UTC) - job.created_at).total_seconds()
    result = status.model_dump(mode="json")
    result["deadline_exceeded"] = elapsed > job.request.deadline_seconds
    return result


@DBOS.step(name="vidgate.cancel_remote", **_RETRY)
async def cancel_remote_step(job_id: str, attempt: dict[str, Any]) -> bool:
    rt = current()
    with requestlog.bind(job_id, attempt["attempt_id"]):
        canceled = await rt.provider(attempt["provider"]).cancel(attempt["remote_id"])
    rt.store.update_attempt(
        attempt["attempt_id"],
        status=AttemptStatus.CANCELED.value,
        finished_at=datetime.now(UTC),
    )
    return canceled


async def _fetch(job_id: str, attempt: dict[str, Any], output: dict[str, Any]) -> Path:
    """The downloaded output on this host, fetching it again if this worker never had it."""
    rt = current()
    path = _work_path(job_id)
    if not path.is_file():
        with requestlog.bind(job_id, attempt["attempt_id"]):
            await rt.provider(attempt["provider"]).download(OutputRef.model_validate(output), path)
    return path


@DBOS.step(name="vidgate.download", **_RETRY)
async def download_step(job_id: str, attempt: dict[str, Any], output: dict[str, Any]) -> str:
    rt = current()
    rt.store.set_phase(
        job_id, Phase.DOWNLOADING, _PROGRESS[Phase.DOWNLOADING], "downloading the output"
    )
    _work_path(job_id).unlink(missing_ok=True)  # a half-written file from a crashed run
    return str(await _fetch(job_id, attempt, output))


@DBOS.step(name="vidgate.validate", **_RETRY)
async def validate_step(
    job_id: str, attempt: dict[str, Any], output: dict[str, Any]
) -> dict[str, Any]:
    from ..media.probe import probe
    from ..media.validate import Expected, check_output

    rt = current()
    rt.store.set_phase(job_id, Phase.VALIDATING, _PROGRESS[Phase.VALIDATING], "checking the output")
    job = rt.store.get(job_id)
    path = await _fetch(job_id, attempt, output)
    info = probe(path, decode=True)
    model = rt.catalog.get(f"{job.provider}:{job.model}")
    params = effective_params(model, job.request)
    width, height = dimensions_for(params.resolution, params.aspect_ratio)
    check_output(
        info,
        Expected(
            duration=params.duration,
            aspect_ratio=params.aspect_ratio,
            width=width,
            height=height,
            fps=float(params.fps),
            audio=True if params.audio else None,
        ),
    )
    media: dict[str, Any] = info.model_dump(mode="json")
    return media


@DBOS.step(name="vidgate.thumbnail", **_RETRY)
async def thumbnail_step(job_id: str, attempt: dict[str, Any], output: dict[str, Any]) -> str:
    from ..media.thumbnail import thumbnail

    rt = current()
    rt.store.set_phase(
        job_id, Phase.THUMBNAILING, _PROGRESS[Phase.THUMBNAILING], "making a thumbnail"
    )
    path = await _fetch(job_id, attempt, output)
    thumb = path.with_name("thumbnail.jpg")
    thumbnail(path, thumb)
    return str(thumb)


@DBOS.step(name="vidgate.store", **_RETRY)
async def store_step(
    job_id: str, attempt: dict[str, Any], output: dict[str, Any], media: dict[str, Any]
) -> None:
    from ..media.thumbnail import thumbnail

    rt = current()
    rt.store.set_phase(job_id, Phase.STORING, _PROGRESS[Phase.STORING], "storing the output")
    path = await _fetch(job_id, attempt, output)
    thumb = path.with_name("thumbnail.jpg")
    if not thumb.is_file():
        thumbnail(path, thumb)
    for kind, source, key, content_type, info in (
        ("video", path, f"videos/{job_id}.mp4", "video/mp4", media),
        ("thumbnail", thumb, f"thumbnails/{job_id}.jpg", "image/jpeg", None),
    ):
        stored = rt.storage.put_file(key, source, content_type)
        rt.store.put_asset(
            job_id,
            Asset(
                id=new_id("asset"),
                kind=kind,
                key=stored.key,
                uri=stored.uri,
                content_type=content_type,
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                media=MediaInfo.model_validate(info) if info else None,
            ),
        )


@DBOS.step(name="vidgate.complete")
async def complete_step(job_id: str, attempt: dict[str, Any]) -> None:
    rt = current()
    cost = (attempt.get("quote") or {}).get("usd")
    rt.store.finish(job_id, JobStatus.COMPLETED, "completed", cost_usd=cost)
    _cleanup(job_id)


@DBOS.step(name="vidgate.fail")
async def fail_step(job_id: str, attempt_id: str | None, error: dict[str, Any]) -> None:
    rt = current()
    job_error = JobError.model_validate(error)
    if attempt_id is not None:
        rt.store.update_attempt(
            attempt_id,
            status=AttemptStatus.FAILED.value,
            outcome=job_error.outcome.value,
            error=job_error.model_dump(mode="json"),
            finished_at=datetime.now(UTC),
        )
    job = rt.store.get(job_id)
    charged = [a.cost_usd for a in job.attempts if a.cost_usd is not None]
    rt.store.finish(
        job_id,
        JobStatus.FAILED,
        f"failed: {job_error.message}",
        error=job_error,
        cost_usd=sum(charged) if charged else None,
    )
    _cleanup(job_id)


def _cleanup(job_id: str) -> None:
    work = current().settings.work_dir / job_id
    for child in work.glob("*"):
        child.unlink(missing_ok=True)
    if work.is_dir():
        work.rmdir()


def _unwrap(exc: BaseException) -> BaseException:
    """DBOS wraps the errors of a step that ran out of retries; the last one is the reason."""
    if isinstance(exc, DBOSMaxStepRetriesExceeded) and exc.errors:
        return exc.errors[-1]
    return exc


@DBOS.workflow(name="vidgate.job")
async def job_workflow(job_id: str) -> str:
    """Run one job to a terminal state. Returns the final status."""
    attempt: dict[str, Any] | None = None
    try:
        candidates = await route_step(job_id)
        attempt = await submit_step(job_id, 1, candidates[0])
        status = await _await_task(job_id, attempt)
        if status.state is not TaskState.SUCCEEDED:
            error = _task_error(attempt["provider"], status)
            await fail_step(job_id, attempt["attempt_id"], error)
            return JobStatus.FAILED.value
        if not status.outputs:
            raise GenerationFailed(
                "the provider reported success but returned no output",
                provider=attempt["provider"],
            )
        output = status.outputs[0].model_dump(mode="json")
        await _mark_attempt_succeeded(job_id, attempt)
        await download_step(job_id, attempt, output)
        media = await validate_step(job_id, attempt, output)
        await thumbnail_step(job_id, attempt, output)
        await store_step(job_id, attempt, output, media)
        await complete_step(job_id, attempt)
        return JobStatus.COMPLETED.value
    except (VidgateError, DBOSMaxStepRetriesExceeded) as raised:
        exc = _unwrap(raised)
        if not isinstance(exc, VidgateError):
            raise
        await fail_step(job_id, attempt["attempt_id"] if attempt else None, _job_error(exc))
        return JobStatus.FAILED.value


async def _await_task(job_id: str, attempt: dict[str, Any]) -> TaskStatus:
    interval = current().settings.poll_interval
    while True:
        polled = await poll_step(job_id, attempt)
        status = TaskStatus.model_validate(polled)
        if status.state.terminal:
            return status
        if polled["deadline_exceeded"]:
            await cancel_remote_step(job_id, attempt)
            raise JobTimeout(
                "the job ran past its deadline; the provider task was cancelled",
                details={"remote_id": attempt["remote_id"]},
            )
        await DBOS.sleep_async(status.poll_after or interval)


@DBOS.step(name="vidgate.attempt_succeeded")
async def _mark_attempt_succeeded(job_id: str, attempt: dict[str, Any]) -> None:
    cost = (attempt.get("quote") or {}).get("usd")
    current().store.update_attempt(
        attempt["attempt_id"],
        status=AttemptStatus.SUCCEEDED.value,
        progress=1.0,
        cost_usd=cost,
        finished_at=datetime.now(UTC),
    )


def _task_error(provider: str, status: TaskStatus) -> dict[str, Any]:
    """A failed or cancelled task's error, as classified by its provider."""
    if status.error:
        return status.error
    return GenerationFailed(
        f"the task ended {status.raw_status or status.state.value}", provider=provider
    ).to_dict()


def _job_error(exc: VidgateError) -> dict[str, Any]:
    if isinstance(exc, MediaUnreadable):
        exc.details.setdefault("hint", "the provider's file could not be decoded")
    return exc.to_dict()
