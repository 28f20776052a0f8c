"""Prompt validation at admission: what no provider should be sent, refused before anything is
spent with ``prompt_invalid`` and a stable ``reason``.

It runs on the request as it will run (after template expansion), on every text a provider may
be sent: the prompt, each part of a structured prompt and of its per-provider overrides, and the
negative prompt.

reasons
    ``too_long``              longer than the named model (or every model it may go to) takes
    ``control_characters``    C0/C1 control characters other than tab and newline
    ``invisible_characters``  zero-width characters, bidi overrides and isolates, tag characters
    ``provider_syntax``       a provider's own flags or parameters inside the text (``--ar 16:9``,
                              ``--seed 7``, ``/imagine``, ``cat::2``, ``"seed": 7``, ``seed=7``,
                              chat-template tokens)
    ``empty``                 nothing but whitespace
    ``garbage``               no letter or digit (punctuation, emoji), or one character or word
                              repeated (``aaaa``, ``fox fox fox fox``)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from ..catalog import Catalog
from ..catalog.schema import ModelProfile
from ..exceptions import PromptInvalid
from ..prompt_model import core_text
from ..types import VideoRequest

__all__ = ["REASONS", "check_text", "validate_request"]

REASONS = (
    "too_long",
    "control_characters",
    "invisible_characters",
    "provider_syntax",
    "empty",
    "garbage",
)

#: Characters that render as nothing and can hide or reorder text: zero-width space, joiners,
#: word joiner and invisible operators, BOM, bidi embeddings, overrides, isolates and marks, the
#: Mongolian vowel separator, soft hyphen, Hangul fillers.
_INVISIBLE = frozenset(
    {0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x200B, 0x200C, 0x200E, 0x200F, 0x2028, 0x2029}
    | set(range(0x202A, 0x202F))
    | set(range(0x2060, 0x2065))
    | set(range(0x2066, 0x206A))
    | {0x3164, 0xFEFF, 0xFFA0}
)
_ZWJ = 0x200D

#: Provider flags and parameters written into the prompt text.
_SYNTAX: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a command-line flag", re.compile(r"(?<!\S)--[a-z][a-z0-9-]{0,20}\b", re.I)),
    ("a command-line flag", re.compile(r"(?<!\S)-[a-z]{1,12}[\s=:]+[\d.:]+(?!\S)", re.I)),
    ("a Midjourney command", re.compile(r"(?<!\S)/(?:imagine|blend|describe|settings)\b", re.I)),
    ("a prompt weight", re.compile(r"\S::\s*-?\d")),
    ("a JSON object", re.compile(r"\{\s*\"[A-Za-z_][\w-]*\"\s*:")),
    (
        "a generation parameter",
        re.compile(
            r"\"?\b(?:seed|aspect_ratio|aspect|ratio|negative_prompt|duration|resolution|fps|"
            r"guidance(?:_scale)?|cfg(?:_scale)?|steps|num_inference_steps|sampler|model|"
            r"motion_bucket_id|quality|style|stylize|chaos|weird|tile|version)\"?\s*(?:=|\":)\s*\S",
            re.I,
        ),
    ),
    ("a chat-template token", re.compile(r"<\|[\w-]+\|>|\[/?INST\]|<</?SYS>>", re.I)),
)


def check_text(text: str, *, field: str = "prompt", content: bool = True) -> None:
    """Refuse ``text`` (``PromptInvalid``) for invisible or control characters, provider syntax
    and — with ``content`` — emptiness or garbage."""
    chars = [ord(c) for c in text]
    for index, code in enumerate(chars):
        if code in (0x09, 0x0A, 0x0D):
            continue
        category = unicodedata.category(chr(code))
        if category == "Cc":
            raise PromptInvalid(
                f"the {field} contains a control character (U+{code:04X})",
                reason="control_characters",
                field=field,
                position=index,
            )
        if code == _ZWJ:
            # Inside an emoji sequence a joiner is legitimate; between letters it hides words.
            around = [chars[i] for i in (index - 1, index + 1) if 0 <= i < len(chars)]
            if not any(unicodedata.category(chr(c)).startswith(("L", "N")) for c in around):
                continue
        if code == _ZWJ or code in _INVISIBLE or 0xE0000 <= code <= 0xE007F:
            raise PromptInvalid(
                f"the {field} contains an invisible character (U+{code:04X})",
                reason="invisible_characters",
                field=field,
                position=index,
            )
    for kind, pattern in _SYNTAX:
        match = pattern.search(text)
        if match:
            raise PromptInvalid(
                f"the {field} contains provider syntax ({kind}: {match.group(0).strip()[:24]!r}); "
                "set parameters as request fields, not in the prompt text",
                reason="provider_syntax",
                field=field,
                kind=kind,
            )
    if not content:
        return
    if not text.strip():
        raise PromptInvalid(f"the {field} is empty", reason="empty", field=field)
    alnum = [c for c in text.casefold() if unicodedata.category(c)[0] in "LN"]
    words = re.findall(r"\w+", text.casefold())
    if (
        not alnum
        or (len(alnum) >= 4 and len(set(alnum)) <= 2)
        or (len(words) >= 4 and len(set(words)) == 1)
    ):
        raise PromptInvalid(
            f"the {field} has no words to generate from (only punctuation, symbols or one "
            "character or word repeated)",
            reason="garbage",
            field=field,
        )


def _texts(request: VideoRequest) -> Iterator[tuple[str, str, bool]]:
    """(field, text, is content) for every text of the request a provider may be sent."""
    parts = request.prompt_parts
    if parts is None or parts.empty:
        yield "prompt", request.prompt, True
    else:
        yield "prompt", core_text(parts), True
        for name in ("camera", "lighting", "atmosphere", "style"):
            if value := getattr(parts, name):
                yield f"prompt.{name}", value, False
    for provider, override in request.prompt_overrides.items():
        for name, value in override.model_dump().items():
            if isinstance(value, str) and value:
                yield f"prompt_overrides.{provider}.{name}", value, False
    if request.negative_prompt:
        yield "negative_prompt", request.negative_prompt, False


def _pool(request: VideoRequest, catalog: Catalog) -> list[ModelProfile]:
    wanted = set(request.providers)
    if request.model:
        wanted.add(request.model.split(":", 1)[0])
    return [
        m
        for m in catalog
        if not (request.model and ":" in request.model and m.ref != request.model)
        and not (wanted and m.provider not in wanted)
    ]


def _check_length(request: VideoRequest, models: Iterable[ModelProfile]) -> None:
    limits = [m.prompt_max_chars for m in models]
    if not limits or any(limit is None for limit in limits):
        return
    longest = max(limit for limit in limits if limit is not None)
    core = request.prompt_core
    if len(core) > longest:
        raise PromptInvalid(
            f"the prompt has {len(core)} characters; the longest any model it may go to takes "
            f"is {longest} (limit: {longest})",
            reason="too_long",
            length=len(core),
            limit=longest,
        )


def validate_request(request: VideoRequest, catalog: Catalog) -> None:
    """Refuse a request whose prompt texts no provider should be sent (``PromptInvalid``)."""
    for field, text, content in _texts(request):
        check_text(text, field=field, content=content)
    _check_length(request, _pool(request, catalog))
