"""The provider interface: submit, poll, cancel, download, webhooks — and its catalogue entry.

A provider module speaks one provider's wire format and nothing else; the engine speaks only this
interface. Results are small pydantic models, because the engine checkpoints them between steps.
"""

from __future__ import annotations

import asyncio
import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from .. import requestlog
from ..catalog.capabilities import EffectiveParams, effective_params
from ..catalog.loader import DATA_DIR, load_provider_file
from ..catalog.schema import ModelProfile, ProviderProfile
from ..exceptions import MissingCredentials, ProviderError, VidgateError
from ..media.geometry import dimensions_for
from ..media.validate import Expected
from ..settings import Settings
from ..types import VideoRequest

__all__ = [
    "Balance",
    "PollResult",
    "Expected",
    "OutputRef",
    "Provider",
    "ProviderCharge",
    "Submission",
    "SubmitResult",
    "TaskState",
    "TaskStatus",
    "WebhookEvent",
]


@functools.lru_cache(maxsize=64)
def _profile_at(path: Path) -> ProviderProfile:
    return load_provider_file(path)


class TaskState(StrEnum):
    """A provider task's state, normalized from each provider's own words."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELED)


class OutputRef(BaseModel):
    """Where a finished task's output can be fetched, and until when."""

    url: str
    kind: str = "video"
    remote_id: str | None = Field(
        default=None, description="the task it belongs to, so an expired URL can be refreshed"
    )
    content_type: str | None = None
    expires_at: float | None = Field(default=None, description="unix time, when known")


class Submission(BaseModel):
    """Everything a provider needs to create one task."""

    request: VideoRequest
    model: ModelProfile
    fps: int
    audio: bool
    reference: str = Field(description="our unique reference for this attempt")
    callback_url: str | None = None

    @classmethod
    def build(
        cls, request: VideoRequest, model: ModelProfile, params: EffectiveParams, reference: str
    ) -> Submission:
        return cls(
            request=request, model=model, fps=params.fps, audio=params.audio, reference=reference
        )


class SubmitResult(BaseModel):
    remote_id: str
    state: TaskState = TaskState.QUEUED
    credits_estimate: float | None = None


class ProviderCharge(BaseModel):
    """What a provider said a task cost, in its own unit (only what it said: no price math).

    ``vidgate.accounting.charges`` turns it into USD: ``usd`` as is, ``credits`` at the
    catalogue's credit price, ``output_seconds`` (the units the provider says it billed) at the
    model's per-second price."""

    usd: float | None = Field(default=None, ge=0)
    credits: float | None = Field(default=None, ge=0)
    output_seconds: float | None = Field(default=None, ge=0)
    note: str | None = Field(default=None, description="what the provider reported, briefly")


class Balance(BaseModel):
    """An account balance, as the provider reports it."""

    usd: float | None = Field(default=None, description="in USD, when the provider bills USD")
    credits: float | None = Field(default=None, description="in the provider's credits")


class TaskStatus(BaseModel):
    """One poll's answer."""

    state: TaskState
    progress: float | None = Field(default=None, description="0..1 when the provider reports it")
    outputs: list[OutputRef] = Field(default_factory=list)
    error: dict[str, Any] | None = Field(
        default=None, description="a failed task's classified error (VidgateError.to_dict())"
    )
    raw_status: str | None = None
    poll_after: float | None = Field(default=None, description="seconds, a provider hint")
    charge: ProviderCharge | None = Field(
        default=None, description="what the provider reports the task cost, when it says"
    )


#: One task's answer in ``Provider.poll_many``: its status, or the error its poll raised.
PollResult = TaskStatus | VidgateError


class WebhookEvent(BaseModel):
    remote_id: str
    status: TaskStatus


class Provider(ABC):
    """One provider. Subclasses set ``name`` and implement submit/poll; the rest has defaults.

    Register a provider with an entry point in the ``vidgate.providers`` group; vidgate's own
    providers are registered the same way.
    """

    name: ClassVar[str]
    #: Whether ``find_by_reference`` can tell if a task we created exists. Without it, an
    #: ambiguous create failure cannot be reconciled (``submit_uncertain``): the job never sends
    #: to this provider again, and its ``uncertain_submit`` policy falls back or stops.
    supports_lookup: ClassVar[bool] = False
    #: The catalogue file for this provider; built-ins keep theirs in ``vidgate/catalog/data``.
    catalog_file: ClassVar[Path | None] = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- catalogue and credentials ---------------------------------------------------------

    @classmethod
    def profile(cls) -> ProviderProfile:
        """This provider's catalogue entry (parsed once per class and file)."""
        path = cls.catalog_file or DATA_DIR / f"{cls.name}.toml"
        return _profile_at(path)

    @classmethod
    def env_keys(cls) -> list[str]:
        return cls.profile().env_keys

    @classmethod
    def api_key(cls, environ: Mapping[str, str] | None = None) -> str | None:
        """The key from the first of this provider's conventional variables that is set."""
        env = os.environ if environ is None else environ
        for var in cls.env_keys():
            if env.get(var):
                return env[var]
        return None

    @classmethod
    def configured(cls, environ: Mapping[str, str] | None = None) -> bool:
        """Whether this provider can be called: its key is set (or it needs none)."""
        return not cls.env_keys() or cls.api_key(environ) is not None

    def setting_url(
        self, variable: str, default: str | None = None, *, simulator_path: str | None = None
    ) -> str:
        """A base URL: the setting ``variable`` (e.g. ``VIDGATE_RUNWAY_BASE_URL``), else — when
        ``VIDGATE_SIMULATOR_URL`` is set — the simulator's address plus ``simulator_path`` (this
        provider's prefix there, e.g. ``/runway``), else ``default``, else the catalogue's.
        Read as the environment is now, so a re-pointed provider needs no restart."""
        now = Settings()
        simulator = now.simulator_url
        field = variable.removeprefix("VIDGATE_").lower()
        # A third-party provider's own variable is not a vidgate setting: read as it is.
        known = field in Settings.model_fields
        value = getattr(now, field) if known else os.environ.get(variable)
        if not value and simulator and simulator_path is not None:
            value = simulator.rstrip("/") + simulator_path
        value = value or default or self.profile().base_url
        if not value:
            raise MissingCredentials(self.name, [variable])
        return value.rstrip("/")

    def require_key(self) -> str:
        key = self.api_key()
        if key is None:
            raise MissingCredentials(self.name, self.env_keys())
        return key

    def expected_size(self, model: ModelProfile, params: EffectiveParams) -> tuple[int, int]:
        """The pixel size this provider renders for a request, for output validation. By
        default the short side is the resolution tier and the long side follows the aspect
        ratio; providers that name exact pixel sizes on the wire override this."""
        return dimensions_for(params.resolution, params.aspect_ratio)

    def output_follows_image(self, model: ModelProfile) -> bool:
        """Whether ``model`` takes the frame shape from the first image rather than from the
        request's aspect ratio (its API has no aspect parameter, or ignores it then)."""
        return False

    def expected_output(self, request: VideoRequest, model: ModelProfile) -> Expected:
        """What a finished task for ``request`` on ``model`` must deliver; the engine validates
        the downloaded output against it. By default: the effective duration, fps and audio,
        the aspect ratio, and the pixel size from ``expected_size``. A model whose output
        follows the first image (``output_follows_image``) is held to that image's shape when
        it is a local file we can read, and to no pixel size. Override for anything else."""
        params = effective_params(model, request)
        aspect: str | None = params.aspect_ratio
        width: int | None
        height: int | None
        width, height = self.expected_size(model, params)
        if request.image and self.output_follows_image(model):
            aspect, width, height = _image_shape(request.image), None, None
        return Expected(
            duration=params.duration,
            aspect_ratio=aspect,
            width=width,
            height=height,
            fps=float(params.fps),
            audio=True if params.audio else None,
        )

    # -- the job lifecycle -----------------------------------------------------------------

    @abstractmethod
    async def submit(self, submission: Submission) -> SubmitResult:
        """Create the remote task. Must not be retried blindly by callers after an ambiguous
        failure; see ``find_by_reference``."""

    @abstractmethod
    async def poll(self, remote_id: str) -> TaskStatus:
        """The task's current state. Safe to call any number of times."""

    async def poll_many(
        self, remote_ids: Sequence[str], *, also: Collection[str] = ()
    ) -> dict[str, PollResult]:
        """The current state of many tasks at once: for each of ``remote_ids``, its status or
        the error its poll raised (an error for one task never hides the others' answers). The
        engine's poller calls it once a round with the tasks due for a poll; ``also`` are the
        other tasks it waits on, to be answered only when that costs no call of their own.

        By default each of ``remote_ids`` is polled on its own (``poll_each``). A provider with
        a documented list endpoint overrides this: it reads the list (newest first, a bounded
        number of pages, stopping once every one of ``remote_ids`` was seen), answers every
        task of ``remote_ids`` and ``also`` the pages showed, and polls on their own only the
        tasks of ``remote_ids`` the pages did not show (older than the pages read)."""
        return await self.poll_each(remote_ids)

    def lists(self, remote_id: str) -> bool:
        """Whether ``poll_many`` answers for this task from a list endpoint (then polling it
        costs no call of its own, and the engine polls it every base interval)."""
        return False

    async def poll_each(self, remote_ids: Sequence[str]) -> dict[str, PollResult]:
        """Poll each task on its own, ``VIDGATE_POLL_CONCURRENCY`` at a time; every call is
        marked in the request log as being about its task."""
        gate = asyncio.Semaphore(max(1, self.settings.poll_concurrency))

        async def one(remote_id: str) -> tuple[str, PollResult]:
            async with gate:
                with requestlog.about(remote_id):
                    try:
                        return remote_id, await self.poll(remote_id)
                    except VidgateError as exc:
                        return remote_id, exc

        return dict(await asyncio.gather(*(one(r) for r in dict.fromkeys(remote_ids))))

    async def cancel(self, remote_id: str) -> bool:
        """Cancel the remote task if the provider allows it; True if it was cancelled."""
        return False

    async def balance(self) -> Balance | None:
        """The account's balance, where the provider exposes one (then the catalogue's
        ``billing.balance`` is true); None where it does not."""
        return None

    async def find_by_reference(
        self, reference: str, submission: Submission, since: float
    ) -> str | None:
        """The remote id of a task we created for ``submission`` (our ``reference``, sent at or
        after unix time ``since``), if the provider can tell; None if it certainly does not
        exist. Providers without a client reference may match on a listing (prompt, model,
        creation time). Set ``supports_lookup`` when this is implemented; a provider that can
        look up only some of its models (or cannot tell a match from a near-match) raises
        ``SubmitUncertain`` rather than guess."""
        return None

    @abstractmethod
    async def download(self, output: OutputRef, dest: Path) -> None:
        """Fetch ``output`` to ``dest`` (atomically: ``dest`` exists only when complete)."""

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, url_token: str | None = None
    ) -> WebhookEvent:
        """Verify and parse a provider's push notification. ``url_token`` is the last path
        segment of the URL it was delivered to, for providers whose callbacks are unsigned and
        are protected by an unguessable per-attempt URL instead. Raises ``ProviderAuthError``
        for a forged, stale or unverifiable delivery."""
        raise ProviderError(f"{self.name} does not send webhooks", provider=self.name)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most providers need nothing
        """Release connections."""


def _image_shape(ref: str) -> str | None:
    """``"W:H"`` of a local image, or None when it is a URL or unreadable (then not checked)."""
    if "://" in ref:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(ref) as image:
            return f"{image.width}:{image.height}"
    except (OSError, UnidentifiedImageError):
        return None
