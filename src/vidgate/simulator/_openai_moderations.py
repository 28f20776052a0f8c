"""The OpenAI twin's moderation endpoint: ``POST /openai/v1/moderations``.

Answers OpenAI's documented shape — ``{"id": "modr-…", "model", "results": [{"flagged",
"categories": {name: bool}, "category_scores": {name: float}, "category_applied_input_types":
{name: ["text"]}}]}``, one result per input — deterministically: an input that contains one of a
category's trigger words (``TRIGGERS``) scores 0.93 there and is flagged; everything else
scores low. The bearer key is required; faults come from ``X-Simulator-Fault`` or ``[sim:…]``
markers in an input: ``auth`` (401), ``429``, ``500-create`` (500), ``hang`` (never answers
within any client's timeout), ``invalid`` (400).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ._common import bearer_token
from ._openai_errors import OpenAIFailure, _answers_errors, _json, _server_error
from .faults import FAULT_HEADER, UnknownFault, parse_faults
from .state import sim_state

__all__ = ["CATEGORIES", "TRIGGERS", "router"]

router = APIRouter()

CATEGORIES = (
    "sexual",
    "sexual/minors",
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "violence",
    "violence/graphic",
)
#: Words that make the twin flag a category (lower case, matched in the lower-cased input).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "violence": ("bloodshed", "brutal fight"),
    "violence/graphic": ("gruesome",),
    "sexual": ("lewd",),
    "harassment": ("humiliate",),
    "hate": ("bigoted",),
    "illicit": ("smuggling",),
    "illicit/violent": ("untraceable rifle",),
    "self-harm": ("self-destructive",),
}
_HANG_SECONDS = 120.0


def _result(text: str) -> dict[str, Any]:
    lowered = text.lower()
    scores = {name: 0.0001 + 0.00001 * i for i, name in enumerate(CATEGORIES)}
    for name, words in TRIGGERS.items():
        if any(word in lowered for word in words):
            scores[name] = 0.93
    flags = {name: score >= 0.5 for name, score in scores.items()}
    return {
        "flagged": any(flags.values()),
        "categories": flags,
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
    }


@router.post("/v1/moderations")
@_answers_errors
async def moderations(request: Request) -> Response:
    if bearer_token(request) is None:
        raise OpenAIFailure(401, "You didn't provide an API key.")
    try:
        body = await request.json()
    except ValueError:
        raise OpenAIFailure(400, "We could not parse the JSON body of your request.") from None
    raw = body.get("input") if isinstance(body, dict) else None
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise OpenAIFailure(
            400, "'input' is a string or a non-empty array of strings.", param="input"
        )
    sim_state(request).requests["openai moderations"] += 1  # /_simulator/stats
    try:
        faults = parse_faults(request.headers.get(FAULT_HEADER), " ".join(texts))
    except UnknownFault as exc:
        raise OpenAIFailure(400, str(exc), param=FAULT_HEADER, code="unknown_fault") from None
    if "auth" in faults:
        raise OpenAIFailure(401, "Incorrect API key provided.", code="invalid_api_key")
    if "429" in faults:
        raise OpenAIFailure(
            429, "Rate limit reached for moderations.", code="rate_limit_exceeded",
            headers={"retry-after": "1"},
        )  # fmt: skip
    if "500-create" in faults:
        raise _server_error()
    if "invalid" in faults:
        raise OpenAIFailure(400, "Invalid value for 'model'.", param="model")
    if "hang" in faults:
        await asyncio.sleep(_HANG_SECONDS)
    return _json(
        {
            "id": "modr-" + secrets.token_hex(12),
            "model": str(body.get("model") or "omni-moderation-latest"),
            "results": [_result(t) for t in texts],
        }
    )
