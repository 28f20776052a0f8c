"""Does a model support a request, and what will it cost? Pure functions over catalogue data."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..media.geometry import dimensions_for
from ..types import CostQuote, Mode, VideoRequest
from .schema import ModelProfile, PriceTier, Rule

__all__ = [
    "EffectiveParams",
    "PriceLine",
    "billed_seconds",
    "effective_params",
    "frame_sizes",
    "price_line",
    "quote",
    "violations",
]


@dataclass(frozen=True)
class EffectiveParams:
    """A request's parameters with the model's defaults filled in: what will actually be sent."""

    mode: Mode
    duration: float
    resolution: str
    aspect_ratio: str
    fps: int
    audio: bool
    image: bool
    last_frame: bool

    def as_rule_values(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "duration": self.duration,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "fps": self.fps,
            "audio": self.audio,
            "image": self.image,
            "last_frame": self.last_frame,
        }


def effective_params(model: ModelProfile, request: VideoRequest) -> EffectiveParams:
    audio = model.audio == "always" if request.audio is None else request.audio
    return EffectiveParams(
        mode=request.mode,
        duration=request.duration,
        resolution=request.resolution,
        aspect_ratio=request.aspect_ratio,
        fps=request.fps if request.fps is not None else model.default_fps,
        audio=audio,
        image=request.image is not None,
        last_frame=request.last_frame is not None,
    )


def violations(model: ModelProfile, request: VideoRequest) -> list[str]:
    """Everything about ``request`` that ``model`` cannot do, each as a sentence that says what
    the model allows instead. Empty means the model can serve the request. Lifecycle is not
    checked here (see ``vidgate.routing``)."""
    params = effective_params(model, request)
    problems: list[str] = []
    if params.mode not in model.modes:
        problems.append(
            f"mode {params.mode.value} is not offered (modes: "
            f"{', '.join(m.value for m in model.modes)})"
        )
    if not model.allows_duration(params.duration):
        problems.append(
            f"duration {params.duration:g} s is not offered (durations: "
            f"{model.describe_durations()})"
        )
    if params.resolution not in model.resolutions:
        problems.append(
            f"resolution {params.resolution} is not offered (resolutions: "
            f"{', '.join(model.resolutions)})"
        )
    if params.aspect_ratio not in model.aspect_ratios:
        problems.append(
            f"aspect ratio {params.aspect_ratio} is not offered (aspect ratios: "
            f"{', '.join(model.aspect_ratios)})"
        )
    if params.fps not in model.fps:
        problems.append(
            f"{params.fps} fps is not offered (fps: {', '.join(str(f) for f in model.fps)})"
        )
    if params.audio and model.audio == "none":
        problems.append("audio is not offered (this model renders silent video)")
    if request.audio is False and model.audio == "always":
        problems.append("silent output is not offered (this model always renders audio)")
    if request.seed is not None and not model.seed:
        problems.append("a seed is not accepted")
    if not model.local_images:
        local = [
            label
            for label, ref in (("image", request.image), ("last_frame", request.last_frame))
            if ref and "://" not in ref and not ref.startswith("data:")
        ]
        if local:
            problems.append(
                f"a local {' and '.join(local)} file is not accepted (this model needs an "
                "image URL, not a local file: it fetches images itself from public https URLs)"
            )
    # A structured prompt's other parts may be left out to fit (prompts.render): its subject
    # and action must fit. A negative prompt is never a refusal: a model without a field for it
    # gets it folded into the text or dropped, with a warning on the job.
    core = request.prompt_core
    if model.prompt_max_chars is not None and len(core) > model.prompt_max_chars:
        problems.append(f"the prompt has {len(core)} characters (limit: {model.prompt_max_chars})")
    if not problems:
        values = params.as_rule_values()
        problems.extend(rule.message for rule in model.rules if _breaks(rule, values))
    return problems


def frame_sizes(models: Iterable[ModelProfile]) -> dict[tuple[int, int], tuple[str, str]]:
    """Every frame size (width, height) the models render, to its (resolution, aspect ratio)."""
    sizes: dict[tuple[int, int], tuple[str, str]] = {}
    for model in models:
        for resolution in model.resolutions:
            for aspect in model.aspect_ratios:
                sizes.setdefault(dimensions_for(resolution, aspect), (resolution, aspect))
    return sizes


def _matches(value: Any, allowed: list[Any]) -> bool:
    if isinstance(value, bool) or any(isinstance(a, bool) for a in allowed):
        return any(value is a or value == a for a in allowed if isinstance(a, bool))
    if isinstance(value, float | int):
        return any(isinstance(a, int | float) and abs(value - a) < 1e-6 for a in allowed)
    return value in allowed


def _breaks(rule: Rule, values: dict[str, Any]) -> bool:
    applies = all(_matches(values[field], allowed) for field, allowed in rule.when.items())
    if not applies:
        return False
    return not all(_matches(values[field], allowed) for field, allowed in rule.require.items())


def _tier_score(tier: PriceTier, resolution: str, audio: bool, duration: float) -> int | None:
    """How specifically a tier matches (higher wins), or None if it does not match."""
    score = 0
    if tier.resolution is not None:
        if tier.resolution != resolution:
            return None
        score += 4
    if tier.audio is not None:
        if tier.audio != audio:
            return None
        score += 2
    if tier.duration is not None:
        if abs(tier.duration - duration) > 1e-6:
            return None
        score += 1
    return score


@dataclass(frozen=True)
class PriceLine:
    """What a price table says one video costs, and how that figure was reached."""

    usd: float
    basis: str


def price_line(
    model: ModelProfile, params: EffectiveParams, *, tier_duration: float | None = None
) -> PriceLine | None:
    """The price table's figure for a video with ``params`` on ``model`` (None when no tier
    covers it). Per-second prices follow the model's billing blocks and minimum; per-pixel
    prices count width x height x fps x seconds. ``tier_duration`` picks per-clip tiers by the
    duration asked for when ``params.duration`` is what was delivered."""
    chosen = tier_duration if tier_duration is not None else params.duration
    best: tuple[int, PriceTier] | None = None
    for tier in model.price.tiers:
        score = _tier_score(tier, params.resolution, params.audio, chosen)
        if score is not None and (best is None or score > best[0]):
            best = (score, tier)
    if best is None:
        return None
    tier = best[1]
    where = f" at {params.resolution}" + (" with audio" if params.audio else "")
    if tier.usd_per_second is not None:
        seconds = billed_seconds(model, params.duration)
        usd = tier.usd_per_second * seconds
        blocks = f" (billed {seconds:g} s)" if abs(seconds - params.duration) > 1e-6 else ""
        basis = f"${tier.usd_per_second:g}/s x {params.duration:g} s{blocks}{where}"
    elif tier.usd_per_megapixel is not None:
        width, height = dimensions_for(params.resolution, params.aspect_ratio)
        megapixels = width * height * params.fps * params.duration / 1e6
        usd = tier.usd_per_megapixel * megapixels
        basis = (
            f"${tier.usd_per_megapixel:g}/Mpx x {width}x{height} x {params.fps} fps x "
            f"{params.duration:g} s{where}"
        )
    else:
        assert tier.usd_per_video is not None
        usd = tier.usd_per_video
        basis = f"${tier.usd_per_video:g} per {chosen:g} s clip{where}"
    return PriceLine(usd=round(usd, 4), basis=basis)


def billed_seconds(model: ModelProfile, seconds: float) -> float:
    """The seconds a per-second price is charged for: rounded up to the billing block, and
    never less than the minimum."""
    price = model.price
    if price.block_seconds:
        seconds = math.ceil(seconds / price.block_seconds - 1e-6) * price.block_seconds
    if price.min_seconds:
        seconds = max(seconds, price.min_seconds)
    return seconds


def quote(model: ModelProfile, request: VideoRequest) -> CostQuote | None:
    """The list price of ``request`` on ``model``, or None when no price tier covers it."""
    line = price_line(model, effective_params(model, request))
    if line is None:
        return None
    return CostQuote(
        provider=model.provider,
        model=model.id,
        usd=line.usd,
        basis=line.basis,
        source=model.price.source,
        as_of=model.price.as_of.isoformat(),
        status=model.price.status,
        source_url=model.price.url,
    )
