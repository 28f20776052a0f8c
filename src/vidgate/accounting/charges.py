"""What one attempt cost: the provider's own figure when it gives one, else the price table for
what was delivered, else the provider's billing rule for how the attempt ended.

Three bases, in order of trust:

- ``billed``: the provider said what it charged (Runway's ``cost.credits`` at the catalogue's
  credit price; Replicate's billed output seconds at the model's per-second price; a USD
  figure as is). A provider's figure wins over every rule, a refund (0) included.
- ``computed``: the catalogue price for what was actually delivered (probed duration, the
  resolution the frame size belongs to, whether it has audio) — or 0 where the provider's
  billing rule says the way the attempt ended is refunded.
- ``estimated``: the list price of what was asked, where a rule says the attempt is charged
  but nothing was delivered to measure (a cancel, a task given up on, a 422 after GPU time).

The rules are the provider's catalogue ``[billing]`` table (``catalog.schema.Billing``): no
provider's name appears here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..catalog import Billing, Catalog, ModelProfile, effective_params, frame_sizes, price_line
from ..catalog.capabilities import EffectiveParams
from ..providers.base import ProviderCharge, TaskState
from ..types import CostBasis, MediaInfo, VideoRequest

__all__ = ["Charge", "attempt_charge", "ending"]

#: The ways an attempt can end, each a key of the catalogue's ``[billing]`` table (but
#: ``succeeded``, always charged, and ``unknown``: a create that may or may not exist).
ENDINGS = (
    "succeeded",
    "failed",
    "moderation_input",
    "moderation_output",
    "canceled",
    "abandoned",
    "bad_output",
    "never_created",
    "unknown",
)

_MEDIA_CODES = frozenset({"output_mismatch", "media_unreadable", "output_defective"})


@dataclass(frozen=True)
class Charge:
    """An attempt's cost, its basis, and a few words on how it was reached."""

    usd: float | None
    basis: CostBasis | None
    why: str
    #: The provider's final word is still to be read (the task may still run or bill).
    open: bool = False


def ending(error: dict[str, Any] | None, *, remote_id: str | None, task_state: str | None) -> str:
    """How an attempt ended, for its billing rule. ``task_state`` is the provider's last word
    on the task (a ``TaskState`` value), None when we stopped waiting before it ended."""
    if error is None:
        return "succeeded"
    code = error.get("code")
    if remote_id is None:
        return "unknown" if code == "submit_uncertain" else "never_created"
    if code in _MEDIA_CODES or task_state == TaskState.SUCCEEDED.value:
        return "bad_output"  # delivered (the provider bills it), but not usable
    if code == "content_rejected":
        stage = (error.get("details") or {}).get("stage")
        return "moderation_output" if stage == "output" else "moderation_input"
    if task_state == TaskState.CANCELED.value or code == "canceled":
        return "canceled"
    if task_state is None:
        return "abandoned"
    return "failed"


def attempt_charge(
    catalog: Catalog,
    ref: str,
    request: VideoRequest,
    *,
    how: str,
    report: ProviderCharge | None = None,
    media: MediaInfo | None = None,
    quoted_usd: float | None = None,
) -> Charge:
    """What the attempt on ``ref`` (``provider:model``) for ``request`` cost, having ended
    ``how`` (see ``ending``), with what its provider reported and what was delivered."""
    model = catalog.get(ref)
    billing = catalog.provider(model.provider).billing
    asked = effective_params(model, request)
    if report is not None:
        billed = _billed(model, billing, asked, report)
        if billed is not None:
            return billed
    if how == "unknown":
        return Charge(None, None, "a create that may exist at the provider: not known")
    if how == "succeeded":
        if media is not None:
            delivered = _delivered(model, asked, media)
            line = price_line(model, delivered, tier_duration=asked.duration)
            if line is not None:
                return Charge(line.usd, CostBasis.COMPUTED, f"delivered: {line.basis}")
        return _list_price(model, asked, quoted_usd, "delivered; priced as asked")
    rule = getattr(billing, how)
    if how in ("abandoned", "canceled"):
        charge = _by_rule(model, asked, rule, how, quoted_usd)
        return replace(charge, open=True)
    return _by_rule(model, asked, rule, how, quoted_usd, media)


def _by_rule(
    model: ModelProfile,
    asked: EffectiveParams,
    rule: str,
    how: str,
    quoted_usd: float | None,
    media: MediaInfo | None = None,
) -> Charge:
    if rule == "refunded":
        return Charge(0.0, CostBasis.COMPUTED, f"{how}: refunded ({model.provider}'s rule)")
    if how == "bad_output" and media is not None:
        line = price_line(model, _delivered(model, asked, media), tier_duration=asked.duration)
        if line is not None:
            return Charge(line.usd, CostBasis.COMPUTED, f"delivered, then refused: {line.basis}")
    return _list_price(model, asked, quoted_usd, f"{how}: charged ({model.provider}'s rule)")


def _billed(
    model: ModelProfile, billing: Billing, asked: EffectiveParams, report: ProviderCharge
) -> Charge | None:
    said = f" ({report.note})" if report.note else ""
    if report.usd is not None:
        return Charge(round(report.usd, 4), CostBasis.BILLED, f"${report.usd:g} reported{said}")
    if report.credits is not None and billing.credit_usd is not None:
        usd = round(report.credits * billing.credit_usd, 4)
        return Charge(
            usd,
            CostBasis.BILLED,
            f"{report.credits:g} credits x ${billing.credit_usd:g}{said}",
        )
    if report.output_seconds is not None:
        if report.output_seconds == 0:
            return Charge(0.0, CostBasis.BILLED, f"0 s billed{said}")
        line = price_line(
            model, replace(asked, duration=report.output_seconds), tier_duration=asked.duration
        )
        if line is not None:
            return Charge(line.usd, CostBasis.BILLED, f"billed output: {line.basis}{said}")
    return None


def _delivered(model: ModelProfile, asked: EffectiveParams, media: MediaInfo) -> EffectiveParams:
    """The parameters of what was actually delivered: its probed duration (snapped to the
    duration asked for when within container rounding), the resolution its frame size belongs
    to, its audio and frame rate."""
    duration = media.duration
    if abs(duration - asked.duration) < 0.5:
        duration = asked.duration
    size = frame_sizes([model]).get((media.width, media.height))
    resolution, aspect = size if size else (asked.resolution, asked.aspect_ratio)
    fps = round(media.fps) if media.fps else asked.fps
    return replace(
        asked,
        duration=round(duration, 2),
        resolution=resolution,
        aspect_ratio=aspect,
        fps=fps,
        audio=media.has_audio,
    )


def _list_price(
    model: ModelProfile, asked: EffectiveParams, quoted_usd: float | None, why: str
) -> Charge:
    line = price_line(model, asked)
    if line is not None:
        return Charge(line.usd, CostBasis.ESTIMATED, f"{why}: {line.basis}")
    if quoted_usd is not None:
        return Charge(quoted_usd, CostBasis.ESTIMATED, f"{why}: the quote")
    return Charge(None, None, f"{why}: no price is known")
