"""The shapes of what the workflow's steps return and pass on.

DBOS checkpoints step results (by pickling them), and a recovered workflow replays them into
whatever vidgate version picks it up. So these are ``TypedDict``s — plain JSON-able dicts at run
time, typed for mypy — never vidgate's classes: a checkpoint written by one version reads in the
next. Fields that a later version adds are ``NotRequired`` and read with a default, so an older
checkpoint still replays. Where a payload is a pydantic model's ``model_dump(mode="json")``, the
tests check that its keys match the model's fields.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AttemptDone",
    "AttemptFailed",
    "AttemptPayload",
    "AttemptResult",
    "AttemptSucceeded",
    "CandidatePayload",
    "DeliveryPayload",
    "ChargePayload",
    "EndedPayload",
    "ErrorPayload",
    "MediaPayload",
    "OutputPayload",
    "PlanPayload",
    "PollPayload",
    "QuotePayload",
    "UncertainSubmit",
]

#: What a create that may have succeeded at a provider that cannot be asked does next.
UncertainSubmit = Literal["fallback", "fail"]


class QuotePayload(TypedDict):
    """``CostQuote.model_dump(mode="json")``."""

    provider: str
    model: str
    usd: float
    basis: str
    source: str | None
    as_of: str | None
    #: The price's status and the page it comes from (missing in older checkpoints).
    status: NotRequired[str | None]
    source_url: NotRequired[str | None]


class CandidatePayload(TypedDict):
    ref: str
    quote: QuotePayload | None
    #: Whether the attempt scans its output (missing in checkpoints from before the scan).
    scan: NotRequired[bool]


class PlanPayload(TypedDict):
    """What ``route`` decided, for the job workflow to follow."""

    candidates: list[CandidatePayload]
    max_attempts: int
    fallback_on_moderation: bool
    #: The tenant's safety policy's ``on_provider_refusal`` (missing in older checkpoints).
    on_provider_refusal: NotRequired[str]
    #: The tenant's (else the global) policy; missing in checkpoints written before it existed.
    uncertain_submit: NotRequired[UncertainSubmit]
    #: The job's tenant: the partition its attempts queue in on a provider's queue (missing in
    #: checkpoints written before partitions existed: the default partition).
    tenant: NotRequired[str]
    #: How the job waits for each attempt: ``"message"`` (the attempt's last act sends its
    #: result). Missing in checkpoints written before it existed: those await the attempt's
    #: workflow handle, as they did then, so a job recovered mid-flight replays as it ran.
    wait: NotRequired[Literal["message"]]
    #: Whether the job's attempts scan their outputs (missing in checkpoints from before the
    #: scan existed: those replay without it).
    scan: NotRequired[bool]
    #: Whether the job makes its delivery set before it completes (missing in checkpoints from
    #: before delivery existed: those replay without the step).
    deliver: NotRequired[bool]
    #: ``VIDGATE_OUTAGE_WAIT`` when the job was routed (missing in checkpoints from before it
    #: existed: those replay without the wait).
    outage_wait: NotRequired[float]


class ErrorPayload(TypedDict):
    """``VidgateError.to_dict()`` / ``JobError.model_dump(mode="json")``."""

    code: str
    message: str
    retryable: bool
    outcome: str
    details: dict[str, Any]


class AttemptPayload(TypedDict):
    """One attempt, as the steps that follow its submit know it."""

    attempt_id: str
    number: int
    provider: str
    model: str
    remote_id: str | None
    quote: QuotePayload | None


class OutputPayload(TypedDict):
    """``OutputRef.model_dump(mode="json")``."""

    url: str
    kind: str
    remote_id: str | None
    content_type: str | None
    expires_at: float | None


class MediaPayload(TypedDict):
    """``MediaInfo.model_dump(mode="json")``."""

    container: str
    video_codec: str | None
    width: int
    height: int
    duration: float
    fps: float | None
    frame_count: int | None
    pix_fmt: str | None
    bit_rate: int | None
    has_audio: bool
    audio_codec: str | None
    size_bytes: int


class ChargePayload(TypedDict):
    """``ProviderCharge.model_dump(mode="json")``: what a provider said a task cost."""

    usd: float | None
    credits: float | None
    output_seconds: float | None
    note: str | None


class EndedPayload(TypedDict):
    """The provider's last word on an attempt's task: its state and what it said it charged."""

    state: str
    charge: ChargePayload | None


class PollPayload(TypedDict):
    """``TaskStatus.model_dump(mode="json")`` plus the clock checks made in the poll step."""

    state: str
    progress: float | None
    outputs: list[OutputPayload]
    error: ErrorPayload | None
    raw_status: str | None
    poll_after: float | None
    #: What the provider said the task cost; missing in checkpoints written before issue 11.
    charge: NotRequired[ChargePayload | None]
    deadline_exceeded: bool
    queue_timeout: bool
    #: The interval the next wait uses (the step adapts it; absent in older checkpoints).
    interval: NotRequired[float]
    #: True when the step held the wait in-process (polling while nothing changed), so the
    #: workflow polls again without a ``recv`` in between (absent in older checkpoints: False).
    held: NotRequired[bool]
    #: True when a provider webhook (or a cancel) cut the hold short: the workflow then takes
    #: the webhook's message off its queue with a ``recv`` (absent in older checkpoints: False).
    woken: NotRequired[bool]


class AttemptSucceeded(TypedDict):
    ok: Literal[True]
    attempt: AttemptPayload
    output: OutputPayload
    media: MediaPayload


class AttemptFailed(TypedDict):
    ok: Literal[False]
    attempt: AttemptPayload
    error: ErrorPayload


#: What ``attempt_workflow`` returns to the job: never an exception for a provider's failure.
AttemptResult = AttemptSucceeded | AttemptFailed


class AttemptDone(TypedDict):
    """The message an attempt sends its job as its last act: its number and its result."""

    number: int
    result: AttemptResult


#: The content scan's verdict (``types.OutputScan`` as JSON).
ScanPayload = dict[str, Any]


class DeliveryPayload(TypedDict):
    """What the deliver step made: the variants, in build order, and the lane's seconds."""

    variants: list[str]
    seconds: float
