"""The normalized request key: what makes two requests ask for the same video.

``request_key(request, candidates)`` takes the request as admission resolved it (its template
expanded, its defaults decided) and the models routing would try, and returns two SHA-256
digests: ``exact`` over everything that shapes the output, and ``rest`` over all of it but the
prompt (what ``cache: "similar"`` requires equal while it compares prompts by meaning).

In the key: the prompt text, its structured parts and per-provider overrides, the negative
prompt, the candidate models in order, duration, aspect ratio, resolution, fps, audio, seed and
each input by the SHA-256 of its bytes. Not in it: who asked, metadata, webhooks, idempotency
keys, deadlines, the template's name (its expanded text is). Unset values stay unset (``fps:
null`` is not the model's default: the default may differ between the candidates).

An input the gateway cannot read the bytes of (an http(s) URL: what it points at may change)
makes the request uncacheable: ``request_key`` returns None. A provider's own id for an earlier
generation (``video="dm:…"``) names fixed content and is keyed as written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..types import VideoRequest

__all__ = ["CacheKey", "request_key"]

_CHUNK = 1 << 20
#: A provider's own id for an earlier generation (e.g. Luma's ``dm:<uuid>``).
_PROVIDER_REF = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9:_-]+")


@dataclass(frozen=True)
class CacheKey:
    exact: str
    rest: str
    prompt: str  # the text compared by meaning for cache: "similar"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _input(ref: str | None) -> str | bool | None:
    """An input's content identity; False when it has none we can trust."""
    if ref is None:
        return None
    if "://" in ref:
        return False
    if _PROVIDER_REF.fullmatch(ref):
        return f"ref:{ref}"
    try:
        return f"sha256:{_file_digest(Path(ref))}"
    except OSError:  # gone, or not a readable file: nothing to key it by
        return False


def _digest(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def request_key(request: VideoRequest, candidates: Sequence[str]) -> CacheKey | None:
    """The request's cache key, or None when it cannot be cached (an input given by URL)."""
    inputs: dict[str, Any] = {}
    for field in ("image", "last_frame", "video"):
        found = _input(getattr(request, field))
        if found is False:
            return None
        inputs[field] = found
    rest: dict[str, Any] = {
        "v": 1,
        "candidates": list(candidates),
        "duration": f"{request.duration:g}",
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "fps": request.fps,
        "audio": request.audio,
        "seed": request.seed,
        "negative_prompt": request.negative_prompt or None,
        "inputs": inputs,
    }
    prompt: dict[str, Any] = {
        "prompt": request.prompt,
        "parts": request.prompt_parts.model_dump(mode="json") if request.prompt_parts else None,
        "overrides": {
            name: parts.model_dump(mode="json")
            for name, parts in sorted(request.prompt_overrides.items())
        },
    }
    return CacheKey(
        exact=_digest({**rest, "prompt": prompt}),
        rest=_digest(rest),
        prompt=request.prompt,
    )
