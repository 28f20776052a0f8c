"""The durable job: DBOS workflows whose steps are checkpointed one by one.

A job is a parent workflow; each provider attempt is a child workflow on that provider's queue,
so a provider's concurrency and rate limits hold across every process::

    job_workflow:      route → for each candidate: [admit → attempt_workflow] → thumbnail → store
                       → deliver → complete  (or fail, with the last attempt's error)
    attempt_workflow:  submit → poll ⟲ (held in-process while the task is unchanged; a webhook
                       or a cancel cuts the hold short) → download → validate → scan → send the
                       result to the job (which waits for that message, not on the attempt's
                       handle)

The scan (``engine/scanning.py``) runs the content scanners in the media lane; an output it
blocks is quarantined and the attempt fails with ``output_blocked``, which falls back only when
the tenant's policy says so (``on_output_block``).

Steps are at-least-once, so each is safe to run twice: submit records an intent (the attempt
row, whose id is the reference we give the provider) and reconciles by that reference before it
creates anything; every store write is keyed by job, attempt or asset kind. Step results are
plain JSON-able dicts (the ``TypedDict``s of ``payloads.py``), so a checkpoint written by one
version of vidgate reads in the next. The workflow bodies branch only on step results, never on
the clock.

A create that failed ambiguously at a provider that cannot be asked (``submit_uncertain``) is
never sent to that provider again; the job's ``uncertain_submit`` policy (the tenant's, else
``VIDGATE_UNCERTAIN_SUBMIT``) either ends the job (``fail``) or goes on with the next candidate
on another provider (``fallback``), recording the attempt as a possible orphan with its quote.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from dbos import DBOS, WorkflowHandleAsync
from dbos._error import DBOSMaxStepRetriesExceeded

from .. import requestlog
from .._clock import as_utc
from ..catalog import effective_params
from ..exceptions import (
    GenerationFailed,
    JobTimeout,
    OutputBlocked,
    ProviderUnavailable,
    SubmitUncertain,
    UnsupportedRequest,
    VidgateError,
)
from ..prompts.render import apply as apply_prompt
from ..prompts.render import render as render_prompt
from ..providers.base import OutputRef, Submission, TaskState, TaskStatus
from ..routing import plan_route
from ..storage import IMMUTABLE
from ..types import (
    Asset,
    AttemptStatus,
    Job,
    JobError,
    JobStatus,
    MediaInfo,
    Outcome,
    Phase,
    new_id,
    parse_ref,
)
from .charging import charge_attempt, ended_payload
from .circuitwait import outage_wait_step
from .fairshare import DEFAULT_PARTITION, enqueue_attempt
from .limitwait import note_limit_wait
from .outage import step
from .payloads import (
    AttemptDone,
    AttemptPayload,
    AttemptResult,
    AttemptSucceeded,
    CandidatePayload,
    DeliveryPayload,
    EndedPayload,
    ErrorPayload,
    MediaPayload,
    OutputPayload,
    PlanPayload,
    PollPayload,
    QuotePayload,
    ScanPayload,
    UncertainSubmit,
)
from .poller import PROGRESS_STEP, next_interval
from .priorities import rerank, routing_record
from .refusals import is_refusal, provider_refusal_step, refusal_choice, what_next
from .retry import definitely_not_created, retrying
from .runtime import current
from .wakeups import ENDED

__all__ = ["ATTEMPT_DONE", "PROVIDER_EVENT", "attempt_workflow", "job_workflow"]

#: The DBOS message topic a provider webhook is delivered on, to the attempt's workflow.
PROVIDER_EVENT = "provider-event"
#: The DBOS message topic an attempt sends its result on, to its job's workflow.
ATTEMPT_DONE = "attempt-done"
#: How long a job waits for its attempt's message before it looks at the attempt's workflow
#: itself (a backstop: an attempt run by an older release sends none).
ATTEMPT_WAIT_SECONDS = 300.0
#: The longest a poll step holds in-process while the task is unchanged before it returns (and
#: checkpoints): a waiting task costs one checkpoint per this many seconds, not three per poll.
POLL_HOLD_SECONDS = 120.0
#: How this release's jobs wait for their attempts (see ``PlanPayload.wait``).
WAIT_SHAPE: dict[str, Any] = {"wait": "message"}
#: This release's jobs scan every output (see ``PlanPayload.scan``).
SCAN_SHAPE: dict[str, Any] = {"scan": True}
#: This release's jobs make their delivery set before completing (see ``PlanPayload.deliver``).
DELIVER_SHAPE: dict[str, Any] = {"deliver": True}

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


def _work_path(job_id: str) -> Path:
    return current().settings.work_dir / job_id / "output.mp4"


def _thumb_path(video: Path) -> Path:
    """Where validation leaves the thumbnail it made from its own decode."""
    return video.with_name("thumbnail.jpg")


def _note_retry(job_id: str) -> Callable[[str], None]:
    def note(reason: str) -> None:
        store = current().store
        job = store.get(job_id)
        store.add_event(job_id, job.phase, job.progress, reason)

    return note


def _error(exc: VidgateError) -> ErrorPayload:
    return cast(ErrorPayload, exc.to_dict())


def _time_left(job: Job) -> float:
    """Seconds until the job's deadline: the request's, else its tenant's (the tenant's own,
    else ``VIDGATE_TENANT_DEADLINES``), else the default.

    The deadline measures the providers' time — from each attempt's create call to its end,
    summed over the job's attempts — not the time the job waited in vidgate's own queues
    (the job queue, a provider's concurrency or rate limit), so no job fails because vidgate
    itself was busy. A job that waits shows it: phase ``queued`` (for a worker) or
    ``provider_limit`` (for a provider's limit)."""
    settings = current().settings
    limit = job.request.deadline_seconds or current().store.tenant_deadline(job.tenant)
    if limit is None:
        limit = settings.tenant_deadlines.get(job.tenant, settings.default_deadline)
    now = datetime.now(UTC)
    spent = 0.0
    for attempt in job.attempts:
        started = as_utc(attempt.submitted_at)
        if started is not None:
            spent += ((as_utc(attempt.finished_at) or now) - started).total_seconds()
    return limit - spent


# -- job workflow steps ----------------------------------------------------------------------


def _policy(job: Job) -> UncertainSubmit:
    """The job's uncertain-submit policy: its tenant's, else the global setting."""
    rt = current()
    chosen = rt.store.uncertain_submit_policy(job.tenant)
    if chosen in ("fallback", "fail"):
        return cast(UncertainSubmit, chosen)
    return rt.settings.uncertain_submit


@step("vidgate.route")
async def route_step(job_id: str) -> PlanPayload:
    """Order the candidates in this worker (its keys and health are the ones that count)."""
    rt = current()
    job = rt.store.get(job_id)
    rt.store.set_phase(job_id, Phase.ROUTING, _PROGRESS[Phase.ROUTING], "choosing a provider")
    # Admission's strategy and order, kept (engine/priorities.py: the chain the budget reserved).
    plan = rerank(rt.settings, rt.store.engine, plan_route(job.request, rt.catalog), job)
    rt.store.update_job(job_id, routing=routing_record(plan))
    decided: PlanPayload = {
        "candidates": [
            {
                "ref": c.ref,
                "quote": cast(QuotePayload, c.quote.model_dump(mode="json")) if c.quote else None,
            }
            for c in plan.candidates
        ],
        "max_attempts": rt.settings.max_attempts,
        # The tenant's safety policy decides what a provider's safety refusal does next.
        "fallback_on_moderation": refusal_choice(job.tenant) == "fallback",
        "on_provider_refusal": refusal_choice(job.tenant),
        "uncertain_submit": _policy(job),
        "tenant": job.tenant,
        "outage_wait": rt.settings.outage_wait,
    }
    return cast(PlanPayload, {**decided, **WAIT_SHAPE, **SCAN_SHAPE, **DELIVER_SHAPE})


@step("vidgate.admit")
async def admit_step(job_id: str, ref: str) -> str | None:
    """The provider's circuit breaker: None if the candidate may be tried, else why not."""
    rt = current()
    provider = parse_ref(ref).provider
    allowed, reason = rt.health.admit(provider)
    if allowed:
        note_limit_wait(rt.store, rt.settings, job_id, provider)
        return None
    rt.store.note_skip(job_id, ref, reason or "circuit open")
    return reason


@step("vidgate.thumbnail")
async def thumbnail_step(job_id: str, attempt: AttemptPayload, output: OutputPayload) -> None:
    rt = current()
    rt.store.set_phase(
        job_id, Phase.THUMBNAILING, _PROGRESS[Phase.THUMBNAILING], "making a thumbnail"
    )
    path = await _fetch(job_id, attempt, output)
    await _ensure_thumbnail(path)


async def _ensure_thumbnail(path: Path) -> None:
    """Validation made the thumbnail, unless it ran on another host: then the lane makes it."""
    from ..media.lane import thumbnail_file, unpack

    if not _thumb_path(path).is_file():
        unpack(await current().media_lane().run(thumbnail_file, str(path), str(_thumb_path(path))))


@step("vidgate.store")
async def store_step(
    job_id: str, attempt: AttemptPayload, output: OutputPayload, media: MediaPayload
) -> None:
    rt = current()
    rt.store.set_phase(job_id, Phase.STORING, _PROGRESS[Phase.STORING], "storing the output")
    path = await _fetch(job_id, attempt, output)
    thumb = _thumb_path(path)
    await _ensure_thumbnail(path)
    info: MediaPayload | None
    for kind, source, key, content_type, info in (
        ("video", path, f"videos/{job_id}.mp4", "video/mp4", media),
        ("thumbnail", thumb, f"thumbnails/{job_id}.jpg", "image/jpeg", None),
    ):
        stored = await asyncio.to_thread(
            functools.partial(rt.storage.put_file, cache_control=IMMUTABLE),
            key,
            source,
            content_type,
        )
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


@step("vidgate.complete")
async def complete_step(job_id: str, attempt: AttemptPayload) -> None:
    rt = current()
    rt.store.finish(
        job_id,
        JobStatus.COMPLETED,
        f"completed on {attempt['provider']}:{attempt['model']}",
        provider=attempt["provider"],
        model=attempt["model"],
        cost_usd=rt.store.charged(job_id),
    )
    _cleanup(job_id)


@step("vidgate.fail")
async def fail_step(job_id: str, error: ErrorPayload) -> None:
    rt = current()
    job_error = JobError.model_validate(error)
    rt.store.finish(
        job_id,
        JobStatus.FAILED,
        f"failed: {job_error.message}",
        error=job_error,
        cost_usd=rt.store.charged(job_id),
    )
    _cleanup(job_id)


def _cleanup(job_id: str) -> None:
    work = current().settings.work_dir / job_id
    for child in work.glob("*"):
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)  # the delivery set of a crashed run
        else:
            child.unlink(missing_ok=True)
    if work.is_dir():
        work.rmdir()


@step("vidgate.possible_orphan")
async def possible_orphan_step(
    job_id: str, attempt: AttemptPayload, passed_over: list[str], then: str
) -> None:
    """Record that ``attempt``'s create may have made a task nobody will collect (and that may
    be charged): on the attempt, with its quote as the estimated cost, and in the job's history
    (ending with ``then``, what the job does next). ``passed_over`` are the later candidates on
    the same provider, which are not tried."""
    rt = current()
    quote = attempt["quote"]
    usd = quote["usd"] if quote else None
    rt.store.update_attempt(attempt["attempt_id"], possible_orphan=True, orphan_cost_usd=usd)
    cost = f"estimated ${usd:.2f}" if usd is not None else "cost unknown"
    rt.store.add_event(
        job_id,
        Phase.SUBMITTING,
        rt.store.get(job_id).progress,
        f"attempt {attempt['number']} on {attempt['provider']}:{attempt['model']} may have "
        f"created a task (reference {attempt['attempt_id']}) that {attempt['provider']} cannot "
        f"be asked about: a possible orphan ({cost}); {then}",
    )
    for ref in passed_over:
        rt.store.note_skip(
            job_id, ref, f"attempt {attempt['number']} may have left a task at this provider"
        )


def _falls_back(error: ErrorPayload, fallback_on_moderation: bool) -> bool:
    """Whether a failed attempt lets the job try the next candidate."""
    if error["code"] in (JobTimeout.code, SubmitUncertain.code):
        return False  # out of time, or a create that may exist (see the uncertain policy)
    if error["code"] == OutputBlocked.code:
        return bool((error.get("details") or {}).get("fallback"))  # the tenant's on_output_block
    outcome = Outcome(error.get("outcome", Outcome.TERMINAL))
    if outcome is Outcome.USER_ERROR:
        return False
    if outcome is Outcome.CONTENT_REJECTED:
        return fallback_on_moderation
    return True


async def _await_attempt(
    job_id: str, handle: WorkflowHandleAsync[AttemptResult], number: int, plan: PlanPayload
) -> AttemptResult:
    """Wait for attempt ``number``'s result: the message it sends as its last act.

    The wait itself is in memory (``Wakeups``: one check for every waiting job of the process,
    or at once when the attempt ran here); what counts is the ``recv`` after it, which takes the
    message durably. The wait ends when a message is there, the attempt's workflow has ended (on
    a replay, at the first check), the job's own workflow was cancelled (then the ``recv``
    raises DBOS's cancellation) or ``ATTEMPT_WAIT_SECONDS`` have passed; then, with no message
    for this attempt, the job looks at the attempt's workflow (a checkpointed read, so a replay
    takes the same branch) and reads a finished attempt's result from its handle. So a message
    sent before the job got here, or by an attempt of an older release that sends none, is found
    all the same. A plan checkpointed before the message existed awaits the handle, as then."""
    if plan.get("wait") != "message":
        return await handle.get_result()
    attempt_id = handle.workflow_id
    while True:
        await current().wakeups.wait(
            job_id,
            topic=ATTEMPT_DONE,
            statuses={attempt_id: ENDED, job_id: {"CANCELLED"}},
            timeout=ATTEMPT_WAIT_SECONDS,
            check_now=True,
        )
        message = await DBOS.recv_async(ATTEMPT_DONE, timeout_seconds=0)
        if isinstance(message, dict) and message.get("number") == number:
            return cast(AttemptDone, message)["result"]
        # No message (or a stale one from an earlier attempt whose result was read from its
        # handle): look at the attempt itself.
        status = await DBOS.get_workflow_status_async(attempt_id)
        if status is None or status.status in ENDED:
            return await handle.get_result()


async def _keep_output(job_id: str, plan: PlanPayload, result: AttemptSucceeded) -> str:
    """A successful attempt's output kept and delivered, and the job completed; or failed with
    the error that stopped it (a full disk: ``storage_error``; ``delivery_failed``) instead of
    its workflow ending in ERROR with the job in_progress for ever."""
    attempt, output = result["attempt"], result["output"]
    try:
        await thumbnail_step(job_id, attempt, output)
        await store_step(job_id, attempt, output, result["media"])
        if plan.get("deliver"):  # a plan from before delivery replays without it
            await deliver_step(job_id, attempt, output, result["media"])
    except VidgateError as exc:
        await fail_step(job_id, _error(exc))
        return JobStatus.FAILED.value
    await complete_step(job_id, attempt)
    return JobStatus.COMPLETED.value


@DBOS.workflow(name="vidgate.job")
async def job_workflow(job_id: str) -> str:
    """Run one job to a terminal state, trying candidates in order. Returns the final status."""
    try:
        plan = await route_step(job_id)
    except VidgateError as exc:
        await fail_step(job_id, _error(exc))
        return JobStatus.FAILED.value
    candidates = plan["candidates"]
    waited = 0.0
    while plan.get("outage_wait") and (
        pause := await outage_wait_step(job_id, [c["ref"] for c in candidates], waited)
    ):  # every provider it could use is down: wait for one (engine/circuitwait.py)
        await DBOS.sleep_async(pause)
        waited += pause
    last_error: ErrorPayload | None = None
    number = 0
    orphaned: set[str] = set()  # providers that may hold a task of this job we cannot see
    for index, candidate in enumerate(candidates):
        if number >= plan["max_attempts"]:
            break
        provider = parse_ref(candidate["ref"]).provider
        if provider in orphaned:
            continue  # noted as skipped when the possible orphan was recorded
        refused = await admit_step(job_id, candidate["ref"])
        if refused is not None:
            last_error = _error(
                ProviderUnavailable(
                    f"{candidate['ref']} was not tried: {refused}", provider=provider
                )
            )
            continue
        number += 1
        handle = await enqueue_attempt(
            provider,
            attempt_workflow,
            job_id,
            number,
            # A plan checkpointed before the scan existed runs its attempts without it.
            {**candidate, "scan": True} if plan.get("scan") else candidate,
            tenant=plan.get("tenant", DEFAULT_PARTITION),
        )
        result = await _await_attempt(job_id, handle, number, plan)
        if result["ok"]:
            return await _keep_output(job_id, plan, result)
        last_error = result["error"]
        # A checkpoint from before the policy existed has no "uncertain_submit": it replays as
        # it ran then (stop, and no extra step).
        policy = plan.get("uncertain_submit")
        if last_error["code"] == SubmitUncertain.code and policy is not None:
            orphaned.add(provider)
            same_provider = [
                later["ref"]
                for later in candidates[index + 1 :]
                if parse_ref(later["ref"]).provider == provider
            ]
            fallback = policy == "fallback"
            elsewhere = number < plan["max_attempts"] and any(
                parse_ref(later["ref"]).provider not in orphaned
                for later in candidates[index + 1 :]
            )
            if not fallback:
                then = "not sending it again (uncertain_submit = fail)"
            elif elsewhere:
                then = f"not sending to {provider} again; going on with another provider"
            else:
                then = f"not sending to {provider} again, and no other provider is left to try"
            await possible_orphan_step(
                job_id, result["attempt"], same_provider if fallback else [], then
            )
            if fallback:
                continue
        choice = plan.get("on_provider_refusal")  # missing in checkpoints from before it
        if choice is not None and is_refusal(last_error):
            more = number < plan["max_attempts"] and index + 1 < len(candidates)
            await provider_refusal_step(job_id, last_error, what_next(choice, more))
        if not _falls_back(last_error, plan["fallback_on_moderation"]):
            break
    await fail_step(
        job_id,
        last_error or _error(UnsupportedRequest("no provider could be tried for this job")),
    )
    return JobStatus.FAILED.value


# -- attempt workflow steps ------------------------------------------------------------------


@step("vidgate.submit")
async def submit_step(job_id: str, number: int, candidate: CandidatePayload) -> AttemptPayload:
    """Create the remote task at most once per attempt.

    The attempt row is written first (the intent); ``submitted_at`` is set just before the create
    call. If this step runs again after a crash, an attempt with ``submitted_at`` and no remote
    id may have created a task: it is looked up by reference, never blindly created again."""
    rt = current()
    job = rt.store.get(job_id)
    model = rt.catalog.get(candidate["ref"])
    attempt = rt.store.ensure_attempt(job_id, number, model.provider, model.id)
    provider = rt.provider(model.provider)
    policy = rt.retry_policy(model.provider)
    rt.store.set_phase(
        job_id,
        Phase.SUBMITTING,
        _PROGRESS[Phase.SUBMITTING],
        f"submitting to {model.ref} (attempt {number})",
        provider=model.provider,
        model=model.id,
        quote=candidate["quote"],
    )

    # What this model is sent: the prompt rendered for it (order, length, negative prompt in
    # its own field, folded or dropped), recorded on the attempt with its warnings.
    sent = render_prompt(job.request, model)
    if attempt.prompt_sent is None:
        rt.store.update_attempt(attempt.id, prompt_sent=sent.model_dump(mode="json"))
        for warning in sent.warnings:
            rt.store.add_event(job_id, Phase.SUBMITTING, _PROGRESS[Phase.SUBMITTING], warning)
    request = apply_prompt(job.request, sent)
    submission = Submission.build(
        request, model, effective_params(model, request), attempt.reference
    )
    if rt.settings.public_url:
        # Providers that push completion notify the gateway's receiver for this provider.
        submission.callback_url = f"{rt.settings.public_url.rstrip('/')}/webhooks/{model.provider}"

    async def lookup() -> str | None:
        if not provider.supports_lookup:
            return None
        record = rt.store.attempt(attempt.id)
        since = (record.submitted_at or datetime.now(UTC)).timestamp() - 60
        return await retrying(
            "look up the task by reference",
            lambda: provider.find_by_reference(attempt.reference, submission, since),
            policy,
            on_retry=_note_retry(job_id),
        )

    with requestlog.bind(job_id, attempt.id):
        remote_id = attempt.remote_id
        if remote_id is None and attempt.submitted_at is not None:
            remote_id = await lookup()
            if remote_id is None and not provider.supports_lookup:
                raise SubmitUncertain(
                    f"a create call to {model.provider} may have succeeded before a crash, and "
                    f"{model.provider} cannot be asked; not submitting again "
                    f"(reference {attempt.reference})",
                    provider=model.provider,
                )
        tries = 0
        while remote_id is None:
            tries += 1
            rt.store.update_attempt(attempt.id, submitted_at=datetime.now(UTC))
            try:
                remote_id = (await provider.submit(submission)).remote_id
            except VidgateError as exc:
                if not exc.retryable or tries >= policy.max_attempts:
                    raise
                if definitely_not_created(exc):
                    pass  # nothing was created: sending again is safe
                elif provider.supports_lookup:
                    remote_id = await lookup()  # ambiguous: did the task get created?
                    if remote_id is not None:
                        break
                else:
                    raise SubmitUncertain(
                        f"the create call to {model.provider} failed ambiguously ({exc}); "
                        f"not submitting again (reference {attempt.reference})",
                        provider=model.provider,
                    ) from exc
                wait = policy.delay(tries, exc)
                _note_retry(job_id)(f"create failed ({exc.code}: {exc}); retry in {wait:.1f} s")
                await asyncio.sleep(wait)
    rt.store.update_attempt(attempt.id, remote_id=remote_id, status=AttemptStatus.RUNNING.value)
    rt.store.set_phase(
        job_id, Phase.GENERATING, _GENERATING_FROM, f"{model.ref} accepted task {remote_id}"
    )
    return {
        "attempt_id": attempt.id,
        "number": number,
        "provider": model.provider,
        "model": model.id,
        "remote_id": remote_id,
        "quote": candidate["quote"],
    }


def _next_interval(status: TaskStatus, interval: float) -> float:
    """The wait before the next poll (``poller.next_interval``)."""
    return next_interval(status, interval, current().settings)


@step("vidgate.poll")
async def poll_step(
    job_id: str, attempt: AttemptPayload, interval: float | None = None, delay: float = 0.0
) -> PollPayload:
    """Hold the wait for the task in-process and return (one checkpoint) only when something
    the workflow must act on happened.

    The task is polled by this process's poller for its provider (``engine/poller.py``: in
    batches, from ``delay`` seconds on, at the adaptive interval, with retries for transient
    errors), which wakes this step only when the task's state changed or its progress moved by
    ``PROGRESS_STEP``. The step returns when the task ends, the job's deadline or the
    provider-queue timeout trips (the clocks are read here, so the workflow body never reads
    one; the wait never oversleeps the deadline), a provider webhook arrives (the step then
    polls the task itself at once) or the attempt's workflow is cancelled (``Wakeups``: at once
    in this process, within ``VIDGATE_WAKE_INTERVAL`` from another), or ``POLL_HOLD_SECONDS``
    have passed. "Still running" is worth no write at all: no checkpoint (after a crash the
    step runs again whole and watches its task again), no progress row, no request-log row."""
    rt = current()
    settings = rt.settings
    provider = rt.provider(attempt["provider"])
    remote_id = _remote_id(attempt)
    attempt_wf = DBOS.workflow_id or attempt["attempt_id"]
    interval = settings.poll_interval if interval is None else interval
    record = rt.store.attempt(attempt["attempt_id"])
    job = rt.store.get(job_id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # The deadline counts the providers' time, which runs while this attempt is at one.
    deadline_at = started + _time_left(job)
    recorded: tuple[str, float] = ("", record.progress if record.progress is not None else -1.0)
    woken = False
    polled: PollPayload | None = None
    queued_since = as_utc(record.submitted_at) or datetime.now(UTC)
    queue_timeout_at = started + settings.provider_queue_timeout + 0.01
    queue_timeout_at -= (datetime.now(UTC) - queued_since).total_seconds()

    async def poll_now() -> TaskStatus:
        with requestlog.bind(job_id, attempt["attempt_id"]):
            return await retrying(
                "status check",
                lambda: provider.poll(remote_id),
                rt.retry_policy(attempt["provider"]),
                on_retry=_note_retry(job_id),
            )

    watch = rt.pollers.watch(
        provider,
        remote_id,
        workflow_id=attempt_wf,
        job_id=job_id,
        attempt_id=attempt["attempt_id"],
        interval=interval,
        delay=delay,
    )
    try:
        while True:
            reason: str | None = "changed"
            if not watch.fresh:
                until = min(started + POLL_HOLD_SECONDS, deadline_at)
                if watch.latest is None or watch.latest.state is TaskState.QUEUED:
                    until = min(until, queue_timeout_at)
                reason = await rt.wakeups.wait(
                    attempt_wf,
                    timeout=until - loop.time(),
                    topic=PROVIDER_EVENT,
                    statuses={attempt_wf: {"CANCELLED"}},
                )
                if reason == "changed" and not watch.fresh:
                    continue  # a change the step has already taken
            if watch.fresh:
                taken = watch.take()
                # An error the poller could not get past: poll once more here (its retries
                # noted on the job). The provider's API being down is not the task failing: it
                # runs on (and is paid for) there, so keep watching while the deadline allows.
                try:
                    status = await poll_now() if isinstance(taken, VidgateError) else taken
                except VidgateError as exc:
                    if not exc.retryable or loop.time() >= deadline_at:
                        raise
                    _note_retry(job_id)(
                        f"status check failed ({exc.code}) after its retries; the task may "
                        "still be running: asking again until the job's deadline"
                    )
                    continue
            elif reason is not None:  # a webhook, or a cancel
                woken = True
                if polled is not None and reason in ("status", "canceled"):
                    # Cancelled: the workflow's next DBOS call raises DBOS's cancellation.
                    return {**polled, "woken": True}
                status = await poll_now()
                rt.pollers.observe(provider, watch, status)
            else:  # the hold is over, or the deadline came
                status = watch.latest or await poll_now()
            if status.state in (TaskState.QUEUED, TaskState.RUNNING):
                fraction = status.progress or 0.0
                if (
                    status.state.value != recorded[0]
                    or abs(fraction - recorded[1]) >= PROGRESS_STEP
                ):
                    _record_progress(job_id, attempt, status.state, fraction)
                    recorded = (status.state.value, fraction)
            queued_for = (
                (datetime.now(UTC) - record.submitted_at).total_seconds()
                if record.submitted_at
                else 0.0
            )
            polled = cast(
                PollPayload,
                {
                    **status.model_dump(mode="json"),
                    "deadline_exceeded": loop.time() >= deadline_at,
                    "queue_timeout": (
                        status.state is TaskState.QUEUED
                        and queued_for > settings.provider_queue_timeout
                    ),
                    "interval": watch.interval,
                    "held": True,
                    "woken": woken,
                },
            )
            if (
                woken
                or reason is None
                or status.state.terminal
                or polled["deadline_exceeded"]
                or polled["queue_timeout"]
            ):
                return polled
    finally:
        rt.pollers.unwatch(provider, watch)


def _record_progress(
    job_id: str, attempt: AttemptPayload, state: TaskState, fraction: float
) -> None:
    rt = current()
    progress = _GENERATING_FROM + fraction * (_GENERATING_TO - _GENERATING_FROM)
    rt.store.update_attempt(attempt["attempt_id"], progress=fraction)
    word = "queued at" if state is TaskState.QUEUED else "generating on"
    rt.store.set_progress(
        job_id, Phase.GENERATING, round(progress, 1), f"{word} {attempt['provider']}"
    )


def _remote_id(attempt: AttemptPayload) -> str:
    """The task id of an attempt past its submit (which always sets it)."""
    remote_id = attempt["remote_id"]
    if remote_id is None:
        raise RuntimeError(f"attempt {attempt['attempt_id']} has no remote task id")
    return remote_id


@step("vidgate.cancel_remote")
async def cancel_remote_step(job_id: str, attempt: AttemptPayload) -> bool:
    """Best effort: cancel a task we are abandoning, so it stops running (and billing)."""
    rt = current()
    provider = rt.provider(attempt["provider"])
    remote_id = _remote_id(attempt)
    try:
        with requestlog.bind(job_id, attempt["attempt_id"]):
            canceled = await retrying(
                "cancel the abandoned task",
                lambda: provider.cancel(remote_id),
                rt.retry_policy(attempt["provider"]),
                on_retry=_note_retry(job_id),
            )
    except VidgateError as exc:
        _note_retry(job_id)(f"could not cancel task {attempt['remote_id']}: {exc}")
        return False
    rt.store.add_event(
        job_id,
        Phase.GENERATING,
        rt.store.get(job_id).progress,
        f"cancelled task {attempt['remote_id']} at {attempt['provider']}"
        if canceled
        else f"{attempt['provider']} did not cancel task {attempt['remote_id']}",
    )
    return canceled


async def _fetch(job_id: str, attempt: AttemptPayload, output: OutputPayload) -> Path:
    """The downloaded output on this host, fetching it again if this worker never had it."""
    rt = current()
    path = _work_path(job_id)
    if not path.is_file():
        provider = rt.provider(attempt["provider"])
        limit = rt.settings.download_timeout

        async def download() -> None:
            try:
                await asyncio.wait_for(
                    provider.download(OutputRef.model_validate(output), path), limit
                )
            except TimeoutError:
                raise ProviderUnavailable(
                    f"the download took longer than {limit:g} s", provider=attempt["provider"]
                ) from None

        with requestlog.bind(job_id, attempt["attempt_id"]):
            await retrying(
                "download",
                download,
                rt.retry_policy(attempt["provider"]),
                on_retry=_note_retry(job_id),
            )
    return path


@step("vidgate.download")
async def download_step(job_id: str, attempt: AttemptPayload, output: OutputPayload) -> str:
    rt = current()
    rt.store.set_phase(
        job_id, Phase.DOWNLOADING, _PROGRESS[Phase.DOWNLOADING], "downloading the output"
    )
    _work_path(job_id).unlink(missing_ok=True)  # a half-written file from a crashed run
    return str(await _fetch(job_id, attempt, output))


@step("vidgate.validate")
async def validate_step(
    job_id: str, attempt: AttemptPayload, output: OutputPayload
) -> MediaPayload:
    from ..media.lane import inspect_file, unpack
    from ..media.validate import check_output

    rt = current()
    rt.store.set_phase(job_id, Phase.VALIDATING, _PROGRESS[Phase.VALIDATING], "checking the output")
    job = rt.store.get(job_id)
    path = await _fetch(job_id, attempt, output)
    try:
        # One pass in the media lane: headers, every packet demuxed, a sample decoded, and the
        # thumbnail; a burst of completions waits in line for a lane process.
        result = await rt.media_lane().run(
            inspect_file, str(path), str(_thumb_path(path)), on_queue=_note_media_queue(job_id)
        )
        info = MediaInfo.model_validate(unpack(result)["info"])
        model = rt.catalog.get(f"{attempt['provider']}:{attempt['model']}")
        check_output(info, rt.provider(attempt["provider"]).expected_output(job.request, model))
    except VidgateError:
        path.unlink(missing_ok=True)  # a next attempt must not find this file
        _thumb_path(path).unlink(missing_ok=True)
        raise
    return cast(MediaPayload, info.model_dump(mode="json"))


@DBOS.step(name="vidgate.scan")
async def scan_step(
    job_id: str, attempt: AttemptPayload, output: OutputPayload, media: MediaPayload
) -> ScanPayload:
    """The content scan (``engine/scanning.py``): raises ``output_blocked`` (quarantined) or
    ``output_defective``; returns the verdict of an allowed or flagged output."""
    from .scanning import scan_output

    path = await _fetch(job_id, attempt, output)
    try:
        scan = await scan_output(
            job_id, attempt, path, media, on_queue=_note_media_queue(job_id, Phase.SCANNING)
        )
    except VidgateError:
        path.unlink(missing_ok=True)  # a next attempt must not find this file
        _thumb_path(path).unlink(missing_ok=True)
        raise
    return scan.model_dump(mode="json")


@step("vidgate.deliver")
async def deliver_step(
    job_id: str, attempt: AttemptPayload, output: OutputPayload, media: MediaPayload
) -> DeliveryPayload:
    """The delivery set (``engine/delivering.py``): renditions, HLS and stills, stored."""
    from .delivering import deliver_output

    path = await _fetch(job_id, attempt, output)
    queue = _note_media_queue(job_id, Phase.DELIVERING)
    return await deliver_output(job_id, path, on_queue=queue)


def _note_media_queue(job_id: str, phase: Phase = Phase.VALIDATING) -> Callable[[int], None]:
    def note(ahead: int) -> None:
        rt = current()
        rt.store.add_event(
            job_id,
            phase,
            rt.store.get(job_id).progress,
            f"waiting for the media lane ({rt.media_lane().workers} busy, {ahead} ahead)",
        )

    return note


@step("vidgate.attempt_result")
async def attempt_result_step(
    job_id: str,
    attempt: AttemptPayload,
    error: ErrorPayload | None,
    ended: EndedPayload | None = None,
    media: MediaPayload | None = None,
) -> None:
    _record_attempt_result(job_id, attempt, error, ended, media)


def _record_attempt_result(
    job_id: str,
    attempt: AttemptPayload,
    error: ErrorPayload | None,
    ended: EndedPayload | None = None,
    media: MediaPayload | None = None,
) -> None:
    """Record how an attempt ended, what it cost (``accounting.charges``), and the provider's
    health. ``ended`` is the provider's last word on the task (None if we stopped waiting)."""
    rt = current()
    now = datetime.now(UTC)
    charge = charge_attempt(rt.catalog, rt.store.get(job_id).request, attempt, error, ended, media)
    cost = {"cost_usd": charge.usd, "cost_basis": charge.basis, "charge_open": charge.open}
    if error is None:
        rt.store.update_attempt(
            attempt["attempt_id"],
            status=AttemptStatus.SUCCEEDED.value,
            progress=1.0,
            finished_at=now,
            **cost,
        )
        rt.health.record(attempt["provider"], None)
        return
    job_error = JobError.model_validate(error)
    rt.store.update_attempt(
        attempt["attempt_id"],
        status=AttemptStatus.FAILED.value,
        outcome=job_error.outcome.value,
        error=job_error.model_dump(mode="json"),
        finished_at=now,
        **cost,
    )
    rt.health.record(attempt["provider"], job_error.outcome, job_error.message)
    rt.store.add_event(
        job_id,
        Phase.GENERATING,
        rt.store.get(job_id).progress,
        f"attempt {attempt['number']} on {attempt['provider']}:{attempt['model']} failed: "
        f"[{job_error.code}] {job_error.message}",
    )


@step("vidgate.submit_failed")
async def submit_failed_step(
    job_id: str, number: int, candidate: CandidatePayload, error: ErrorPayload
) -> AttemptPayload:
    """An attempt that never got a task id: record it against its (intent) row."""
    rt = current()
    model = rt.catalog.get(candidate["ref"])
    record = rt.store.ensure_attempt(job_id, number, model.provider, model.id)
    attempt: AttemptPayload = {
        "attempt_id": record.id,
        "number": number,
        "provider": model.provider,
        "model": model.id,
        "remote_id": None,
        "quote": candidate["quote"],
    }
    _record_attempt_result(job_id, attempt, error)
    return attempt


def _unwrap(exc: BaseException) -> BaseException:
    """DBOS wraps the errors of a step that ran out of retries; the last one is the reason."""
    if isinstance(exc, DBOSMaxStepRetriesExceeded) and exc.errors:
        return exc.errors[-1]
    return exc


async def _await_task(job_id: str, attempt: AttemptPayload) -> TaskStatus:
    """Poll until the task ends. The poll step holds the wait in-process (see ``poll_step``):
    one checkpoint per hold, not three per poll. A hold cut short by a provider webhook (sent
    with ``DBOS.send`` to this workflow by ``Engine.notify``, from any process) is followed by a
    ``recv`` that takes the webhook's message off the queue. A checkpoint from before the hold
    existed (``held`` missing) replays as it ran then: a ``recv`` of up to one interval."""
    settings = current().settings
    interval = settings.poll_interval
    delay = 0.0
    while True:
        polled = await poll_step(job_id, attempt, interval, delay)
        status = TaskStatus.model_validate(polled)
        if status.state.terminal:
            return status
        if polled["deadline_exceeded"]:
            raise JobTimeout(
                "the job ran past its deadline",
                details={"remote_id": attempt["remote_id"], "provider": attempt["provider"]},
            )
        if polled["queue_timeout"]:
            raise ProviderUnavailable(
                f"the task waited in {attempt['provider']}'s queue longer than "
                f"{settings.provider_queue_timeout:g} s",
                provider=attempt["provider"],
            )
        interval = polled["interval"] if "interval" in polled else _next_interval(status, interval)
        if not polled.get("held", False):
            await DBOS.recv_async(PROVIDER_EVENT, timeout_seconds=interval)
            continue
        delay = interval  # the next hold waits first: this one has just polled
        if polled.get("woken", False):
            # Take the webhook off the queue (a cancelled workflow raises here), so that it
            # does not wake the next hold again.
            await DBOS.recv_async(PROVIDER_EVENT, timeout_seconds=0)


@DBOS.workflow(name="vidgate.attempt")
async def attempt_workflow(job_id: str, number: int, candidate: CandidatePayload) -> AttemptResult:
    """One provider attempt: submit, wait, download, validate. Never raises for a provider's
    failure: it returns ``{"ok": False, "error": …}`` so the job can decide to fall back.

    Its last act sends the result to the job's workflow (whose id is the job's id), which waits
    for that message instead of polling this workflow's row. A send from a workflow is a
    checkpoint: a recovered attempt replays it and never sends twice."""
    result = await _attempt(job_id, number, candidate)
    done: AttemptDone = {"number": number, "result": result}
    await DBOS.send_async(job_id, done, ATTEMPT_DONE)
    current().wakeups.wake(job_id)  # the job, if it waits in this process, reads it at once
    return result


async def _attempt(job_id: str, number: int, candidate: CandidatePayload) -> AttemptResult:
    try:
        attempt = await submit_step(job_id, number, candidate)
    except (VidgateError, DBOSMaxStepRetriesExceeded) as raised:
        exc = _unwrap(raised)
        if not isinstance(exc, VidgateError):
            raise
        attempt = await submit_failed_step(job_id, number, candidate, _error(exc))
        return {"ok": False, "attempt": attempt, "error": _error(exc)}
    settled = False
    status: TaskStatus | None = None
    media: MediaPayload | None = None
    try:
        status = await _await_task(job_id, attempt)
        settled = True
        if status.state is not TaskState.SUCCEEDED:
            raise _task_error(attempt["provider"], status)
        if not status.outputs:
            raise GenerationFailed(
                "the provider reported success but returned no output",
                provider=attempt["provider"],
            )
        output = cast(OutputPayload, status.outputs[0].model_dump(mode="json"))
        await download_step(job_id, attempt, output)
        media = await validate_step(job_id, attempt, output)
        if candidate.get("scan"):
            await scan_step(job_id, attempt, output, media)
    except (VidgateError, DBOSMaxStepRetriesExceeded) as raised:
        exc = _unwrap(raised)
        if not isinstance(exc, VidgateError):
            raise
        if not settled:
            await cancel_remote_step(job_id, attempt)  # we are abandoning a live task
        # A scanned output that was refused was delivered: it is charged as such.
        await attempt_result_step(job_id, attempt, _error(exc), ended_payload(status), media)
        return {"ok": False, "attempt": attempt, "error": _error(exc)}
    await attempt_result_step(job_id, attempt, None, ended_payload(status), media)
    return {"ok": True, "attempt": attempt, "output": output, "media": media}


class _TaskError(VidgateError):
    """A failed task's error as its provider classified it, carried as a VidgateError."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "the task failed")), details=error)
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        return self.error


def _task_error(provider: str, status: TaskStatus) -> VidgateError:
    if status.error:
        return _TaskError(status.error)
    return GenerationFailed(
        f"the task ended {status.raw_status or status.state.value}", provider=provider
    )
