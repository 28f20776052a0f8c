"""The public vocabulary: what a caller asks for, and what a job reports back.

One schema everywhere: the CLI's ``--json``, the library and (later) the HTTP API all emit these
models' ``model_dump(mode="json")``.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .priority.model import Priority, Strategy
from .prompt_model import StructuredPrompt, core_text

__all__ = [
    "CostBasis",
    "Asset",
    "Attempt",
    "ModerationMark",
    "AttemptStatus",
    "CacheHit",
    "CacheMode",
    "CostQuote",
    "OutputScan",
    "ScanFrame",
    "Job",
    "JobError",
    "JobEvent",
    "JobStatus",
    "MediaInfo",
    "Mode",
    "ModelRef",
    "Outcome",
    "Phase",
    "PromptHint",
    "RequestLogEntry",
    "SentPrompt",
    "StructuredPrompt",
    "VideoRequest",
    "new_id",
    "normalize_resolution",
    "parse_ref",
]

_ASPECT_RE = re.compile(r"^(\d{1,3}):(\d{1,3})$")
_RESOLUTION_RE = re.compile(r"^(\d{3,4})p$")
_RESOLUTION_ALIASES = {"4k": "2160p", "uhd": "2160p", "fhd": "1080p", "hd": "720p", "sd": "480p"}


def new_id(prefix: str) -> str:
    """An opaque, unguessable id: ``prefix_`` + 128 random bits in lowercase base32."""
    import base64

    raw = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{raw}"


class ModelRef(NamedTuple):
    """A parsed ``provider:model`` (``model`` is None for a bare ``provider``)."""

    provider: str
    model: str | None


def parse_ref(ref: str) -> ModelRef:
    """``"runway:gen4.5"`` → ``ModelRef("runway", "gen4.5")``; ``"runway"`` (or ``"runway:"``)
    → ``ModelRef("runway", None)``. The one place a model reference is taken apart."""
    provider, _, model = ref.partition(":")
    return ModelRef(provider, model or None)


def normalize_resolution(value: str) -> str:
    """``"4K"`` → ``"2160p"``, ``"720P"`` → ``"720p"``; raises ``ValueError`` for anything else."""
    text = value.strip().lower()
    text = _RESOLUTION_ALIASES.get(text, text)
    if not _RESOLUTION_RE.match(text):
        raise ValueError(f"resolution must look like 720p or 1080p (or 4k), not {value!r}")
    return text


class JobStatus(StrEnum):
    """Where a job stands, in the same words as OpenAI's Videos API (plus ``canceled``)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class Phase(StrEnum):
    """The finer step a job is in; ``status`` says whether it is still going."""

    QUEUED = "queued"
    #: A ``batch`` job held until the off-peak window opens (``Job.not_before``).
    SCHEDULED = "scheduled"
    ROUTING = "routing"
    #: Waiting for a slot under the provider's concurrency or rate limit
    #: (``VIDGATE_PROVIDER_LIMITS``); the job's history says which limit.
    PROVIDER_LIMIT = "provider_limit"
    #: Every provider the job could use is down (its circuit is open): waiting, up to
    #: ``VIDGATE_OUTAGE_WAIT``, for one to come back before the first attempt.
    PROVIDER_OUTAGE = "provider_outage"
    SUBMITTING = "submitting"
    GENERATING = "generating"
    DOWNLOADING = "downloading"
    VALIDATING = "validating"
    #: The content scan (``VIDGATE_SCANNERS``): sampled frames through the scanners.
    SCANNING = "scanning"
    THUMBNAILING = "thumbnailing"
    STORING = "storing"
    #: Renditions, HLS, poster, sprite and preview (``delivery.build``, in the media lane).
    DELIVERING = "delivering"
    DONE = "done"


class Mode(StrEnum):
    """What kind of generation a request is, derived from its inputs."""

    TEXT_TO_VIDEO = "text_to_video"
    IMAGE_TO_VIDEO = "image_to_video"
    KEYFRAMES = "keyframes"  # a last frame, with or without a first frame
    EXTENSION = "extension"  # continue an existing video


class Outcome(StrEnum):
    """How a provider result is classified; it decides what the engine does next."""

    RETRYABLE = "retryable"  # try the same call again after a backoff
    TERMINAL = "terminal"  # this provider cannot do it; another may
    CONTENT_REJECTED = "content_rejected"  # moderation said no
    OPERATOR_ACTION = "operator_action"  # keys, credits: a human must act
    USER_ERROR = "user_error"  # the request itself must change


#: Bounds on a request's template call (hostile input).
VARIABLES_MAX = 32
VARIABLE_VALUE_MAX_CHARS = 1000
OVERRIDES_MAX = 16
_VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


#: A request's ``cache`` field: True (default) serves an identical earlier result when one is
#: exactly reusable, False never does, ``"similar"`` also reuses a near-identical prompt's video.
CacheMode = bool | Literal["similar"]


class VideoRequest(BaseModel):
    """What to generate. Every field but ``prompt`` has a default; ``prompt`` may be left out
    when a ``template`` supplies it.

    ``prompt`` is text, or on input an object of parts (``StructuredPrompt``: subject, action,
    camera, lighting, atmosphere, style, negative). An object is kept in ``prompt_parts`` and
    ``prompt`` becomes its provider-neutral text; its ``negative`` moves to ``negative_prompt``.
    Each attempt renders the parts for its model (``prompts.render``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(default="", max_length=10_000)
    prompt_parts: StructuredPrompt | None = Field(
        default=None, description="the prompt's parts, rendered per model at submit"
    )
    prompt_overrides: dict[str, StructuredPrompt] = Field(
        default_factory=dict,
        description="provider name → parts that replace the prompt's for that provider "
        "(a template's per-provider overrides)",
    )
    template: str | None = Field(
        default=None,
        max_length=140,
        description="a template name (or name@version); a job records name@version",
    )
    variables: dict[str, str | bool | int] = Field(
        default_factory=dict, description="the template's variables"
    )
    negative_prompt: str | None = Field(default=None, max_length=10_000)
    duration: float = Field(default=5.0, gt=0, le=600, description="seconds of output")
    aspect_ratio: str = Field(default="16:9", description="W:H, e.g. 16:9, 9:16, 1:1")
    resolution: str = Field(
        default="720p", description="short side in pixels: 480p, 720p, 1080p, 4k"
    )
    fps: int | None = Field(default=None, ge=1, le=120, description="None: the model's default")
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    audio: bool | None = Field(default=None, description="None: the model's default")
    image: str | None = Field(default=None, description="first frame: a local path or an https URL")
    last_frame: str | None = Field(default=None, description="last frame: a local path or a URL")
    video: str | None = Field(default=None, description="a video to extend: path or URL")
    model: str | None = Field(
        default=None, description="'provider:model' or just 'provider'; None lets routing choose"
    )
    providers: tuple[str, ...] = Field(
        default=(), description="ordered provider preference for routing"
    )
    metadata: dict[str, str] = Field(default_factory=dict)
    webhook_url: str | None = Field(
        default=None, max_length=2048, description="where to POST signed job events"
    )
    idempotency_key: str | None = Field(default=None, max_length=255)
    user: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:+=-]{0,127}$",
        description="the end user the video is for (OpenAI's field): their budgets and quotas",
    )
    deadline_seconds: float | None = Field(
        default=None, gt=0, le=24 * 3600, description="None: the configured default (600 s)"
    )
    priority: Priority | None = Field(
        default=None,
        description="critical, standard or batch (batch waits for the off-peak window); "
        "None: the tenant's default, else standard",
    )
    strategy: Strategy | None = Field(
        default=None,
        description="how to order the candidates: preferred, cheapest, fastest, quality, "
        "reliable; None: the one the tenant set for the priority, else the default",
    )
    cache: CacheMode = Field(
        default=True,
        description="true: an identical earlier result (explicit seed, deterministic model) is "
        "served at no cost; false: never; 'similar': also a near-identical prompt's video",
    )

    @model_validator(mode="before")
    @classmethod
    def _structured_prompt(cls, data: Any) -> Any:
        """An object given as ``prompt`` is the prompt's parts."""
        if isinstance(data, dict):
            prompt = data.get("prompt")
            if isinstance(prompt, StructuredPrompt | dict):
                if data.get("prompt_parts") is not None:
                    raise ValueError("give the prompt's parts once: as prompt or prompt_parts")
                data = {**data, "prompt": "", "prompt_parts": prompt}
        return data

    @field_validator("variables")
    @classmethod
    def _bounded_variables(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > VARIABLES_MAX:
            raise ValueError(f"at most {VARIABLES_MAX} variables")
        for name, item in value.items():
            if not _VARIABLE_NAME_RE.match(name):
                raise ValueError(f"variable name {name[:64]!r} is not a plain name")
            if isinstance(item, str) and len(item) > VARIABLE_VALUE_MAX_CHARS:
                raise ValueError(f"variable {name} is longer than {VARIABLE_VALUE_MAX_CHARS}")
        return value

    @field_validator("prompt_overrides")
    @classmethod
    def _bounded_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > OVERRIDES_MAX or any(len(k) > 64 for k in value):
            raise ValueError(f"at most {OVERRIDES_MAX} provider overrides, named by provider")
        return value

    @model_validator(mode="after")
    def _prompt_present(self) -> VideoRequest:
        parts = self.prompt_parts
        if parts is not None and parts.negative:
            if self.negative_prompt and self.negative_prompt != parts.negative:
                raise ValueError("give the negative prompt once: in the prompt or negative_prompt")
            object.__setattr__(self, "negative_prompt", parts.negative)
            parts = parts.model_copy(update={"negative": ""})
            object.__setattr__(self, "prompt_parts", parts)
        if parts is not None and parts.empty and self.template is None:
            raise ValueError("a structured prompt needs a subject or an action")
        if parts is not None and not self.prompt:
            object.__setattr__(self, "prompt", parts.text()[:10_000])
        if not self.prompt.strip() and self.template is None:
            raise ValueError("prompt must not be blank")
        return self

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect(cls, value: str) -> str:
        match = _ASPECT_RE.match(value.strip())
        if not match or int(match[1]) == 0 or int(match[2]) == 0:
            raise ValueError(f"aspect_ratio must look like 16:9 or 9:16, not {value!r}")
        return f"{int(match[1])}:{int(match[2])}"

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        return normalize_resolution(value)

    @model_validator(mode="after")
    def _inputs_consistent(self) -> VideoRequest:
        if self.video and (self.image or self.last_frame):
            raise ValueError("extend a video or animate images, not both")
        return self

    @property
    def mode(self) -> Mode:
        if self.video:
            return Mode.EXTENSION
        if self.last_frame:
            return Mode.KEYFRAMES
        if self.image:
            return Mode.IMAGE_TO_VIDEO
        return Mode.TEXT_TO_VIDEO

    @property
    def aspect_value(self) -> float:
        w, h = self.aspect_ratio.split(":")
        return int(w) / int(h)

    @property
    def prompt_core(self) -> str:
        """The text no rendering drops: a structured prompt's subject and action, or the whole
        prompt text (what a model's prompt length limit is checked against at admission)."""
        if self.prompt_parts is not None and not self.prompt_parts.empty:
            return core_text(self.prompt_parts)
        return self.prompt


class PromptHint(BaseModel):
    """A prompt linter's hint: advice, never a refusal."""

    code: str = Field(description="stable: no_camera, no_lighting, too_long, conflict, …")
    message: str


class ModerationMark(BaseModel):
    """What the moderation at admission decided about a job's prompt (``vidgate.safety``):
    ``flag`` runs the job marked, ``allow`` runs it (categories a policy allows may still be
    listed). The offending text is never recorded."""

    action: Literal["flag", "allow"]
    categories: list[str] = Field(default_factory=list, description="flagged categories")
    moderators: list[str] = Field(default_factory=list, description="the moderators that ran")
    decision_id: str | None = Field(default=None, description="its row in the safety audit")
    unchecked: list[str] = Field(
        default_factory=list,
        description="moderators that failed (VIDGATE_MODERATION_ON_ERROR=open let it through)",
    )


class SentPrompt(BaseModel):
    """What one attempt sent to its provider: the rendered prompt and negative prompt."""

    prompt: str
    negative_prompt: str | None = None
    negative: str = Field(
        default="none", description="none | field (the provider's own) | folded | dropped"
    )
    warnings: list[str] = Field(default_factory=list)


class MediaInfo(BaseModel):
    """What a probe found in a media file."""

    container: str
    video_codec: str | None
    width: int
    height: int
    duration: float = Field(description="seconds")
    fps: float | None
    frame_count: int | None
    pix_fmt: str | None = None
    bit_rate: int | None = None
    has_audio: bool = False
    audio_codec: str | None = None
    size_bytes: int

    @property
    def aspect_value(self) -> float:
        return self.width / self.height if self.height else 0.0


class RenditionFacts(BaseModel):
    """What a delivered variant is (``delivery.build.Rendition``), measured on the file."""

    variant: str = Field(
        description="original, video, 720p, 480p…, webm, av1, hls, poster, sprite, sprite_vtt, "
        "preview, thumbnail"
    )
    files: list[str] = Field(description="its files, the variant's own first (HLS: the master)")
    keys: list[str] = Field(default_factory=list, description="their keys in storage")
    codec: str
    codecs: str | None = Field(default=None, description="RFC 6381, for a <source type>")
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    bitrate: int | None = Field(default=None, description="bits per second")
    duration: float | None = Field(default=None, description="seconds")
    bytes: int = Field(description="all its files together")
    sha256: str = Field(description="of its first file")
    remuxed: bool = Field(default=False, description="the source's streams copied, no encode")
    credentials: dict[str, Any] | None = Field(
        default=None,
        description="its Content Credentials (C2PA): signed, embedded or in a sidecar, the "
        "manifest's label, the provider's manifest kept as parent, or why it is not signed",
    )


_ASSET_ORDER = ("original", "video", "tiers", "webm", "av1", "hls", "poster", "thumbnail")
_ASSET_ORDER_LATE = ("sprite", "sprite_vtt", "preview")


def asset_order(kind: str) -> tuple[int, int]:
    """Where an asset kind is listed: the original, the video, its tiers largest first, the
    other codecs, HLS, then the stills."""
    if kind.endswith("p") and kind[:-1].isdigit():
        return _ASSET_ORDER.index("tiers"), -int(kind[:-1])
    if kind in _ASSET_ORDER:
        return _ASSET_ORDER.index(kind), 0
    if kind in _ASSET_ORDER_LATE:
        return len(_ASSET_ORDER) + _ASSET_ORDER_LATE.index(kind), 0
    return len(_ASSET_ORDER) + len(_ASSET_ORDER_LATE), 0


class Asset(BaseModel):
    """A stored file: the output video, its thumbnail, or a delivered variant (``facts``)."""

    id: str
    kind: str = Field(
        description="video | thumbnail | original | 720p | 480p | … | webm | av1 | hls | poster "
        "| sprite | sprite_vtt | preview"
    )
    key: str = Field(description="the key in the storage backend")
    uri: str = Field(description="where to fetch it: a file path for local storage")
    content_type: str
    size_bytes: int
    sha256: str
    media: MediaInfo | None = None
    deleted_at: datetime | None = Field(
        default=None,
        description="when its stored object was removed (the video was deleted, or the "
        "retention policy expired it); None while it is stored",
    )
    #: A delivered variant's facts; kept in the row's ``media`` JSON under ``rendition``.
    facts: RenditionFacts | None = Field(default=None, exclude=True)

    def row(self) -> dict[str, Any]:
        """The ``assets`` row's columns (the facts folded into ``media``)."""
        row = self.model_dump(mode="json")
        if self.facts is not None:
            row["media"] = {**(row["media"] or {}), "rendition": self.facts.model_dump(mode="json")}
        return row

    @classmethod
    def from_row(cls, row: Any) -> Asset:
        """An ``assets`` row (a mapping) back into an :class:`Asset`."""
        media = row["media"] or {}
        facts = media.get("rendition")
        return cls(
            id=row["id"],
            kind=row["kind"],
            key=row["key"],
            uri=row["uri"],
            content_type=row["content_type"],
            size_bytes=row["size_bytes"],
            sha256=row["sha256"],
            media=MediaInfo.model_validate(media) if "container" in media else None,
            facts=RenditionFacts.model_validate(facts) if facts else None,
            deleted_at=_utc(row.get("deleted_at")),
        )


def _utc(value: datetime | None) -> datetime | None:
    """A timestamp as stored (SQLite hands back naive UTC ones), made aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class CostBasis(StrEnum):
    """Where a cost figure comes from."""

    BILLED = "billed"  # the provider said what it charged
    COMPUTED = "computed"  # our price table x what was actually delivered (or a billing rule)
    ESTIMATED = "estimated"  # before the fact: the quote


class CostQuote(BaseModel):
    """The price of a request on one model, before anything is spent."""

    provider: str
    model: str
    usd: float
    basis: str = Field(description="how the figure was reached, e.g. '$0.05/s x 4 s at 720p'")
    source: str | None = None
    as_of: str | None = None
    status: str | None = Field(
        default=None,
        description="how sure the price is: confirmed, estimate, placeholder, or override",
    )
    source_url: str | None = Field(default=None, description="the page the price comes from")


class JobError(BaseModel):
    """Why a job failed: a stable code and a message for humans."""

    code: str
    message: str
    retryable: bool = False
    outcome: Outcome = Outcome.TERMINAL
    details: dict[str, Any] = Field(default_factory=dict)


class ScanFrame(BaseModel):
    """A frame of the output that a flagged finding names."""

    index: int
    time: float = Field(description="seconds from the start")


class OutputScan(BaseModel):
    """What the content scan said about an output (``vidgate.safety.scan``).

    ``verdict``: ``allow`` (delivered), ``flag`` (delivered, marked), ``block`` (quarantined,
    never served until an admin releases it), ``defective`` (a technical check failed: the
    attempt failed like a bad output), ``skipped`` (no scanner configured)."""

    verdict: Literal["allow", "flag", "block", "defective", "skipped"]
    attempt: int = Field(description="the attempt whose output was scanned")
    categories: list[str] = Field(default_factory=list, description="flagged categories")
    scores: dict[str, float] = Field(
        default_factory=dict, description="the top score per category, over every scanner"
    )
    frames: list[ScanFrame] = Field(
        default_factory=list, description="the frames that triggered a flagged finding"
    )
    findings: list[dict[str, Any]] = Field(
        default_factory=list, description="every scanner's findings (source, category, score)"
    )
    scanners: list[str] = Field(default_factory=list)
    sampled_frames: int = Field(default=0, description="frames the models looked at")
    seconds: float | None = Field(default=None, description="the scan's wall time")
    quarantine_id: str | None = Field(
        default=None, description="where a blocked output is held (admins: /v1/admin/quarantine)"
    )
    released: bool = Field(default=False, description="an admin released it from quarantine")


class AttemptStatus(StrEnum):
    SUBMITTING = "submitting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Attempt(BaseModel):
    """One submission of a job to one provider."""

    id: str
    number: int
    provider: str
    model: str
    reference: str = Field(description="our own reference, sent to providers that accept one")
    remote_id: str | None = None
    status: AttemptStatus
    outcome: Outcome | None = None
    error: JobError | None = None
    progress: float = 0.0
    cost_usd: float | None = None
    cost_basis: CostBasis | None = Field(
        default=None,
        description="billed (the provider said so), computed (price table x what was "
        "delivered, or the provider's billing rule for how the attempt ended) or estimated",
    )
    possible_orphan: bool = Field(
        default=False,
        description="the create call failed ambiguously and the provider cannot be asked: a task "
        "may exist there (and be charged) that vidgate will never collect",
    )
    orphan_cost_usd: float | None = Field(
        default=None, description="a possible orphan's estimated cost, from its quote"
    )
    prompt_sent: SentPrompt | None = Field(
        default=None, description="exactly what this attempt sent: rendered prompt and negative"
    )
    submitted_at: datetime | None = None
    finished_at: datetime | None = None


class JobEvent(BaseModel):
    """One line of a job's history: a phase change, a progress step, an error."""

    at: datetime
    phase: Phase
    progress: float
    message: str


class RequestLogEntry(BaseModel):
    """One HTTP call to a provider, recorded against its job. URLs carry no secrets."""

    at: datetime
    provider: str
    method: str
    url: str
    status_code: int | None
    latency_ms: float
    request_id: str | None = None
    error: str | None = None


class CacheHit(BaseModel):
    """Where a job served from the result cache got its video (``vidgate.caching``)."""

    job_id: str = Field(description="the earlier job whose stored video was served")
    match: Literal["exact", "similar"]
    prompt: str = Field(description="that job's prompt (for 'similar': the one it matched)")
    provider: str | None = Field(default=None, description="the provider that made the video")
    model: str | None = Field(default=None, description="the model that made it")
    similarity: float | None = Field(
        default=None, description="for 'similar': the prompts' cosine similarity"
    )


class Job(BaseModel):
    """A durable generation job."""

    id: str
    tenant: str = "default"
    status: JobStatus
    phase: Phase
    progress: float = Field(ge=0, le=100)
    request: VideoRequest
    provider: str | None = None
    model: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    output: Asset | None = None
    thumbnail: Asset | None = None
    #: Every stored file of the job, one per kind: the output, its thumbnail and the delivery set.
    assets: list[Asset] = Field(default_factory=list)
    quote: CostQuote | None = None
    cost_usd: float | None = None
    error: JobError | None = None
    routing: dict[str, Any] | None = Field(
        default=None, description="candidates in order, and why other models were not used"
    )
    hints: list[PromptHint] = Field(
        default_factory=list, description="the prompt linter's hints, from admission"
    )
    moderation: ModerationMark | None = Field(
        default=None, description="what the moderation at admission decided (None: not run)"
    )
    not_before: datetime | None = Field(
        default=None, description="a scheduled batch job is released at this instant"
    )
    scan: OutputScan | None = Field(
        default=None, description="the content scan of the output (the last one scanned)"
    )
    cached: CacheHit | None = Field(
        default=None, description="set when the job was served from the result cache"
    )
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status.terminal
