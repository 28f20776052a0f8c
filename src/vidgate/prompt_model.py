"""The structured prompt: what a video prompt is made of, and how its parts become text.

Good video prompts open with the subject and what it does, then say how the camera moves, the
light, the mood and the style, and name what to keep out. ``StructuredPrompt`` holds those parts;
``compose`` turns them into one text in a given order (the per-model order and the choice of
labels are catalogue data, applied by ``prompts.render``). This module imports nothing of
vidgate's: ``vidgate.types`` builds requests on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FIELD_MAX_CHARS",
    "SECTIONS",
    "Section",
    "StructuredPrompt",
    "compose",
    "core_text",
    "sentence",
]

#: The parts after subject and action, in the default order of the providers' guides.
Section = Literal["camera", "lighting", "atmosphere", "style"]
SECTIONS: tuple[Section, ...] = ("camera", "lighting", "atmosphere", "style")
#: How long each part may be (hostile input is bounded before anything else looks at it).
FIELD_MAX_CHARS = {
    "subject": 2000,
    "action": 2000,
    "camera": 500,
    "lighting": 500,
    "atmosphere": 500,
    "style": 500,
    "negative": 2000,
}
_LABELS = {
    "camera": "Camera",
    "lighting": "Lighting",
    "atmosphere": "Atmosphere",
    "style": "Style",
}


class StructuredPrompt(BaseModel):
    """A prompt in parts. Every part is optional here; a request needs a subject or an action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(default="", max_length=FIELD_MAX_CHARS["subject"])
    action: str = Field(default="", max_length=FIELD_MAX_CHARS["action"])
    camera: str = Field(
        default="", max_length=FIELD_MAX_CHARS["camera"], description="movement and framing"
    )
    lighting: str = Field(default="", max_length=FIELD_MAX_CHARS["lighting"])
    atmosphere: str = Field(default="", max_length=FIELD_MAX_CHARS["atmosphere"])
    style: str = Field(
        default="",
        max_length=FIELD_MAX_CHARS["style"],
        description="cinematic, documentary, anime, product …",
    )
    negative: str = Field(
        default="", max_length=FIELD_MAX_CHARS["negative"], description="what to keep out"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _tidy(cls, value: object) -> object:
        """Whitespace runs become one space; a missing part is an empty string."""
        if value is None:
            return ""
        if isinstance(value, str):
            return " ".join(value.split())
        return value

    @property
    def empty(self) -> bool:
        return not (self.subject or self.action)

    def merged(self, over: StructuredPrompt) -> StructuredPrompt:
        """These parts, with every part ``over`` sets taking its place."""
        update = {name: value for name, value in over.model_dump().items() if value}
        return self.model_copy(update=update)

    def text(self) -> str:
        """The provider-neutral text (the default order, labelled sections, no negative)."""
        return compose(self, SECTIONS, labels=True)


def sentence(text: str) -> str:
    """``"a red fox"`` → ``"A red fox."``: a capital first letter and closing punctuation."""
    text = text.strip()
    if not text:
        return ""
    if text[0].islower():
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def core_text(parts: StructuredPrompt) -> str:
    """Subject and action as one sentence: the part no rendering ever drops."""
    return sentence(" ".join(p for p in (parts.subject, parts.action) if p))


def compose(
    parts: StructuredPrompt,
    order: Iterable[str],
    *,
    labels: bool,
    skip: Iterable[str] = (),
    label_names: Mapping[str, str] | None = None,
) -> str:
    """Subject and action first, then each section of ``order`` that is set and not skipped."""
    names = {**_LABELS, **(label_names or {})}
    skipped = set(skip)
    pieces = [core_text(parts)]
    for name in order:
        value = getattr(parts, name, "")
        if not value or name in skipped:
            continue
        pieces.append(sentence(f"{names[name]}: {value}" if labels else value))
    return " ".join(p for p in pieces if p)
