"""The prompt linter: hints, never refusals.

``lint(request, model)`` looks at the prompt as the chosen model will take it and says what a
prompt-writing guide would: no camera direction, no lighting, longer than the model takes,
instructions that contradict each other, a negative prompt the model has no field for. Create
records the hints on the job; ``vidgate estimate`` and ``POST /v1/videos/estimate`` show them.
"""

from __future__ import annotations

import re

from ..catalog.schema import ModelProfile
from ..types import PromptHint, VideoRequest
from .render import render

__all__ = ["lint"]

_CAMERA = re.compile(
    r"\b(camera|shot|pan(s|ning|ned)?|tilt(s|ing)?|dolly|zoom(s|ing)?|track(s|ing)|crane|"
    r"orbit(s|ing)?|handheld|hand-held|aerial|drone|close-?up|wide|medium|pov|angle|framing|"
    r"framed|lens|\d+ ?mm|push(es|ing)?[- ]in|pull(s|ing)?[- ]back|static|locked[- ]off|"
    r"steadicam|gimbal|overhead|bird'?s[- ]eye|low[- ]angle|macro|follow(s|ing)?)\b",
    re.IGNORECASE,
)
_LIGHTING = re.compile(
    r"\b(light(s|ing|ed)?|lit|sun(light|lit|set|rise)?|golden hour|blue hour|neon|shadows?|"
    r"glow(s|ing)?|backlit|backlight|moonlit|moonlight|dusk|dawn|twilight|daylight|overcast|"
    r"candle(light|lit)?|lamp|bright|dim|dark|rim light|softbox|silhouette|high[- ]key|"
    r"low[- ]key|illuminated|cloudy)\b",
    re.IGNORECASE,
)
#: Pairs of instructions a model cannot follow at once: (name, one side, the other side).
_CONFLICTS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "a static camera and a moving one",
        re.compile(r"\b(static|locked[- ]off|fixed camera|still camera|tripod)\b", re.I),
        re.compile(
            r"\b(pan(s|ning)?|tilt(s|ing)?|dolly|zoom(s|ing)?|tracking|orbit(s|ing)?|crane|"
            r"handheld|push(es|ing)?[- ]in|pull(s|ing)?[- ]back|fly-?through)\b",
            re.I,
        ),
    ),
    (
        "slow motion and a time-lapse",
        re.compile(r"\bslow[- ]?mo(tion)?\b", re.I),
        re.compile(r"\b(time[- ]?lapse|fast[- ]motion|sped up)\b", re.I),
    ),
    (
        "black and white and vivid colour",
        re.compile(r"\b(black[- ]and[- ]white|monochrome|grayscale|greyscale)\b", re.I),
        re.compile(r"\b(vivid|vibrant|colou?rful|saturated|technicolou?r)\b", re.I),
    ),
    (
        "day and night at once",
        re.compile(r"\b(midday|noon|daylight|daytime|sunny afternoon)\b", re.I),
        re.compile(r"\b(night|nighttime|midnight|moonlit)\b", re.I),
    ),
)
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_STOP = frozenset({"the", "and", "with", "any", "all", "for", "from", "that", "this", "low"})


def _hint(code: str, message: str) -> PromptHint:
    return PromptHint(code=code, message=message)


def lint(request: VideoRequest, model: ModelProfile | None) -> list[PromptHint]:
    """Hints for ``request`` on ``model`` (the plan's first candidate; None: model-free hints)."""
    hints: list[PromptHint] = []
    parts = request.prompt_parts
    text = request.prompt
    if parts is not None and not parts.empty:
        camera, lighting = bool(parts.camera), bool(parts.lighting)
    else:
        camera, lighting = bool(_CAMERA.search(text)), bool(_LIGHTING.search(text))
    if not camera:
        hints.append(
            _hint(
                "no_camera",
                "the prompt says nothing about the camera: name its movement and framing "
                "(e.g. 'slow dolly-in, low angle', 'static wide shot')",
            )
        )
    if not lighting:
        hints.append(
            _hint(
                "no_lighting",
                "the prompt says nothing about the light (e.g. 'golden hour backlight', "
                "'soft overcast daylight', 'neon at night')",
            )
        )
    for name, one, other in _CONFLICTS:
        if one.search(text) and other.search(text):
            hints.append(_hint("conflict", f"the prompt asks for {name}"))
    negative = request.negative_prompt or ""
    if negative:
        asked = set(_WORD.findall(text.lower())) - _STOP
        both = sorted(w for w in set(_WORD.findall(negative.lower())) - _STOP if w in asked)
        if both:
            hints.append(
                _hint(
                    "conflict",
                    f"the negative prompt excludes what the prompt asks for: {', '.join(both)}",
                )
            )
    if model is None:
        return hints
    limit = model.prompt_max_chars
    if limit is not None and len(request.prompt_core) > limit:
        hints.append(
            _hint(
                "too_long",
                f"the prompt has {len(request.prompt_core)} characters; {model.ref} takes {limit}",
            )
        )
        return hints
    sent = render(request, model)
    if limit is not None and any("longer than" in w or "cut to" in w for w in sent.warnings):
        hints.append(
            _hint(
                "too_long",
                f"the prompt renders longer than the {limit} characters {model.ref} takes: "
                + "; ".join(w for w in sent.warnings if "longer than" in w or "cut to" in w),
            )
        )
    if sent.negative in ("folded", "dropped"):
        hints.append(
            _hint(
                "negative_ignored",
                f"{model.ref} ignores negative prompts (it has no field for one): it will be "
                f"{sent.negative}" + (" into the text" if sent.negative == "folded" else ""),
            )
        )
    return hints
