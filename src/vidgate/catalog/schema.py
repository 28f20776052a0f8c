"""The shape of a catalogue entry: what a model can do, what it costs, and whether it still exists.

Catalogue files are TOML, one per provider, in ``vidgate/catalog/data/``. Adding a model is a data
edit: a new ``[[models]]`` table. See ``docs/catalog.md`` for the field reference.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..prompt_model import SECTIONS
from ..types import Mode, normalize_resolution

__all__ = [
    "RULE_FIELDS",
    "Billing",
    "ChargeRule",
    "DurationRange",
    "Lifecycle",
    "LifecycleStage",
    "ModelProfile",
    "Price",
    "PriceStatus",
    "PriceTier",
    "Prompting",
    "ProviderProfile",
    "Rule",
    "TIERS",
    "Tier",
]

#: The request parameters a cross-parameter rule may talk about.
RULE_FIELDS = frozenset(
    {"mode", "duration", "resolution", "aspect_ratio", "fps", "audio", "image", "last_frame"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LifecycleStage(StrEnum):
    GA = "ga"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class Lifecycle(_Strict):
    """Where a model is in its life. Dates make the stage move by itself as time passes."""

    stage: LifecycleStage = LifecycleStage.GA
    released: date | None = None
    deprecated_on: date | None = None
    retires_on: date | None = None
    replacement: str | None = Field(default=None, description="'provider:model' to use instead")
    note: str | None = None

    def stage_on(self, today: date) -> LifecycleStage:
        """The stage on a given day: a model past its ``retires_on`` date is retired, whatever
        ``stage`` says."""
        if self.stage is LifecycleStage.RETIRED or (self.retires_on and today >= self.retires_on):
            return LifecycleStage.RETIRED
        if self.stage is LifecycleStage.DEPRECATED or (
            self.deprecated_on and today >= self.deprecated_on
        ):
            return LifecycleStage.DEPRECATED
        return self.stage


class DurationRange(_Strict):
    """Any duration from ``min`` to ``max`` seconds in steps of ``step``."""

    min: float = Field(gt=0)
    max: float = Field(gt=0)
    step: float = Field(default=1.0, gt=0)

    def allows(self, seconds: float) -> bool:
        if not self.min - 1e-9 <= seconds <= self.max + 1e-9:
            return False
        steps = (seconds - self.min) / self.step
        return abs(steps - round(steps)) < 1e-6

    def describe(self) -> str:
        step = f" in {_fmt(self.step)} s steps" if self.step != 1 else ""
        return f"{_fmt(self.min)}-{_fmt(self.max)} s{step}"


class PriceTier(_Strict):
    """One price line. ``None`` fields match anything; the most specific matching tier wins."""

    resolution: str | None = None
    audio: bool | None = None
    duration: float | None = Field(default=None, description="for prices set per clip length")
    usd_per_second: float | None = Field(default=None, ge=0)
    usd_per_video: float | None = Field(default=None, ge=0)
    usd_per_megapixel: float | None = Field(
        default=None,
        ge=0,
        description="USD per million pixels generated (width x height x fps x seconds), "
        "for providers that bill per pixel (Luma)",
    )

    @field_validator("resolution")
    @classmethod
    def _norm(cls, value: str | None) -> str | None:
        return normalize_resolution(value) if value else None

    @model_validator(mode="after")
    def _one_unit(self) -> PriceTier:
        units = (self.usd_per_second, self.usd_per_video, self.usd_per_megapixel)
        if sum(u is not None for u in units) != 1:
            raise ValueError(
                "a price tier has exactly one of usd_per_second, usd_per_video or usd_per_megapixel"
            )
        return self


#: How sure a price is. ``override`` is an operator's own figure (``VIDGATE_PRICES``).
PriceStatus = Literal["confirmed", "estimate", "placeholder", "override"]


class Price(_Strict):
    tiers: list[PriceTier] = Field(min_length=1)
    source: str = Field(description="where the figure comes from (URL or document section)")
    url: str | None = Field(default=None, description="the page the figure was read from")
    as_of: date
    status: PriceStatus = Field(
        default="estimate",
        description="confirmed (the provider's published price), estimate (a related or "
        "third-party figure), placeholder (a deliberate ceiling, no real figure), override",
    )
    block_seconds: float | None = Field(
        default=None,
        gt=0,
        description="per-second prices are billed in blocks of this many seconds (rounded up)",
    )
    min_seconds: float | None = Field(
        default=None, gt=0, description="the shortest duration billed, for per-second prices"
    )
    note: str | None = None


#: What an attempt that ended a given way costs, when the provider does not say:
#: ``refunded`` (nothing), ``charged`` (the full price of what was asked).
ChargeRule = Literal["refunded", "charged"]


class Billing(_Strict):
    """A provider's billing rules for attempts that did not deliver, and its money unit.

    A charge the provider reports (``TaskStatus.charge``) always wins; these rules decide when
    it reports nothing. Each key is one way an attempt can end."""

    credit_usd: float | None = Field(
        default=None, gt=0, description="USD per provider credit, for providers billing credits"
    )
    failed: ChargeRule = Field(default="refunded", description="the task failed at the provider")
    moderation_input: ChargeRule = Field(
        default="refunded", description="refused before generating (prompt or image moderation)"
    )
    moderation_output: ChargeRule = Field(
        default="charged", description="refused after generating (output moderation, GPU spent)"
    )
    canceled: ChargeRule = Field(default="charged", description="canceled by us or the caller")
    abandoned: ChargeRule = Field(
        default="charged",
        description="given up on while it may still run (deadline, queue timeout); a late "
        "success found on reconciliation is charged in full whatever this says",
    )
    bad_output: ChargeRule = Field(
        default="charged", description="delivered, but failed vidgate's output checks"
    )
    never_created: ChargeRule = Field(
        default="refunded", description="the create call failed: no task exists"
    )
    balance: bool = Field(
        default=False, description="the adapter can read the account balance (balance())"
    )
    source: str | None = None
    note: str | None = None


class Rule(_Strict):
    """A cross-parameter rule: when every ``when`` field holds one of its values, every
    ``require`` field must hold one of its values. ``message`` explains it to the user."""

    when: dict[str, list[Any]]
    require: dict[str, list[Any]]
    message: str

    @model_validator(mode="after")
    def _known_fields(self) -> Rule:
        unknown = (set(self.when) | set(self.require)) - RULE_FIELDS
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}; use {sorted(RULE_FIELDS)}")
        return self


class Prompting(_Strict):
    """How a model wants its prompt written (from the provider's prompting guide): the order of
    the parts after subject and action, whether they carry labels ("Camera: …"), and what
    happens to a negative prompt when the model has no field for one (``negative_prompt``
    false): ``fold`` appends it to the text as ``fold_prefix`` + the negative, ``drop`` leaves
    it out (a guide that warns negative words in the prompt backfire). Either way the job says so.
    """

    order: list[str] = Field(default_factory=lambda: [str(name) for name in SECTIONS])
    labels: bool = True
    negative_fallback: Literal["fold", "drop"] = "fold"
    fold_prefix: str = "Avoid: "

    @field_validator("order")
    @classmethod
    def _every_section_once(cls, value: list[str]) -> list[str]:
        if sorted(value) != sorted(SECTIONS):
            raise ValueError(f"prompting.order must name each of {list(SECTIONS)} once")
        return value


#: A model's quality tier, best first (``ranking`` orders by it).
Tier = Literal["premium", "standard", "economy"]
TIERS: tuple[Tier, ...] = ("premium", "standard", "economy")


class ModelProfile(_Strict):
    """One model at one provider, as data."""

    id: str = Field(description="the provider's own model id, sent on the wire")
    provider: str = Field(default="", description="filled in from the provider file")
    title: str
    family: str | None = None
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    tier: Tier = Field(
        default="standard",
        description="quality tier, for the `quality` routing strategy: premium (a provider's "
        "flagship), standard, economy (fast, turbo, lite variants)",
    )
    modes: list[Mode] = Field(min_length=1)
    durations: list[float] | None = None
    duration_range: DurationRange | None = None
    default_duration: float
    resolutions: list[str] = Field(min_length=1)
    default_resolution: str
    aspect_ratios: list[str] = Field(min_length=1)
    default_aspect_ratio: str
    fps: list[int] = Field(min_length=1)
    default_fps: int
    audio: Literal["none", "optional", "always"] = "none"
    seed: bool = False
    deterministic_seed: bool = Field(
        default=False,
        description="the same request with the same explicit seed gives the same video (as the "
        "provider documents it); only such models' results are served from the exact cache",
    )
    negative_prompt: bool = False
    prompt_max_chars: int | None = Field(
        default=None, gt=0, description="the longest prompt text the model takes"
    )
    prompting: Prompting = Field(
        default_factory=Prompting,
        description="how prompts are rendered for it; the provider file's [prompting] is the "
        "default for its models",
    )
    local_images: bool = Field(
        default=True,
        description="whether a local image file can be sent; false: the provider fetches "
        "images itself and needs them as public https URLs",
    )
    rules: list[Rule] = Field(default_factory=list)
    price: Price
    wire: dict[str, Any] = Field(
        default_factory=dict,
        description="provider-specific facts (endpoint, parameter names) read only by its adapter",
    )
    notes: str | None = None

    @field_validator("resolutions")
    @classmethod
    def _norm_resolutions(cls, values: list[str]) -> list[str]:
        return [normalize_resolution(v) for v in values]

    @field_validator("default_resolution")
    @classmethod
    def _norm_default_resolution(cls, value: str) -> str:
        return normalize_resolution(value)

    @model_validator(mode="after")
    def _consistent(self) -> ModelProfile:
        if (self.durations is None) == (self.duration_range is None):
            raise ValueError(f"{self.id}: give exactly one of durations or duration_range")
        if not self.allows_duration(self.default_duration):
            raise ValueError(f"{self.id}: default_duration is not an allowed duration")
        if self.default_resolution not in self.resolutions:
            raise ValueError(f"{self.id}: default_resolution is not in resolutions")
        if self.default_aspect_ratio not in self.aspect_ratios:
            raise ValueError(f"{self.id}: default_aspect_ratio is not in aspect_ratios")
        if self.default_fps not in self.fps:
            raise ValueError(f"{self.id}: default_fps is not in fps")
        return self

    @property
    def ref(self) -> str:
        """``provider:model``, the id users type."""
        return f"{self.provider}:{self.id}"

    def allows_duration(self, seconds: float) -> bool:
        if self.durations is not None:
            return any(abs(seconds - d) < 1e-6 for d in self.durations)
        assert self.duration_range is not None
        return self.duration_range.allows(seconds)

    def describe_durations(self) -> str:
        if self.durations is not None:
            return ", ".join(f"{_fmt(d)} s" for d in self.durations)
        assert self.duration_range is not None
        return self.duration_range.describe()


class ProviderProfile(_Strict):
    """A provider file: who they are, how to authenticate, and their models."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    env_keys: list[str] = Field(
        default_factory=list, description="environment variables that hold the key, in order"
    )
    base_url: str | None = None
    docs: str | None = None
    notes: str | None = None
    prompting: Prompting | None = Field(
        default=None, description="the default [prompting] of this provider's models"
    )
    billing: Billing = Field(default_factory=Billing)
    models: list[ModelProfile] = Field(min_length=1)

    @model_validator(mode="after")
    def _stamp_provider(self) -> ProviderProfile:
        ids = [m.id for m in self.models]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"{self.name}: duplicate model ids {sorted(duplicates)}")
        stamped = [
            m.model_copy(
                update={"provider": self.name}
                | (
                    {"prompting": self.prompting}
                    if self.prompting is not None and "prompting" not in m.model_fields_set
                    else {}
                )
            )
            for m in self.models
        ]
        object.__setattr__(self, "models", stamped)
        return self


def _fmt(value: float) -> str:
    return f"{value:g}"
