"""OpenAI's moderation API as a moderator: ``POST /v1/moderations``.

Request ``{"model": "omni-moderation-latest", "input": [text, …]}`` with the project's
``OPENAI_API_KEY`` as a bearer token. Answer ``{"id", "model", "results": [{"flagged",
"categories": {name: bool}, "category_scores": {name: float}, …}]}``, one result per input.
OpenAI's categories map onto vidgate's (``harassment/threatening`` → ``harassment``,
``self-harm/*`` → ``self_harm``, ``sexual/minors`` → ``sexual_minors``, ``illicit/violent`` →
``weapons``, ``violence/graphic`` → ``violence``…); a category is flagged when OpenAI flags it,
with the highest score over the inputs. Any error status, a timeout or an answer of another
shape is a failed moderator (the chain's ``VIDGATE_MODERATION_ON_ERROR`` decides); the key is
never logged or put in an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..categories import CATEGORIES
from ..policy import Finding
from .base import ModeratorFailed

__all__ = ["CATEGORY_MAP", "MODEL", "OpenAIModerator"]

MODEL = "omni-moderation-latest"
#: OpenAI's moderation categories → vidgate's.
CATEGORY_MAP: Mapping[str, str] = {
    "sexual": "sexual",
    "sexual/minors": "sexual_minors",
    "harassment": "harassment",
    "harassment/threatening": "harassment",
    "hate": "hate",
    "hate/threatening": "hate",
    "illicit": "illicit",
    "illicit/violent": "weapons",
    "self-harm": "self_harm",
    "self-harm/intent": "self_harm",
    "self-harm/instructions": "self_harm",
    "violence": "violence",
    "violence/graphic": "violence",
}


class OpenAIModerator:
    name = "openai"
    covers = frozenset(CATEGORIES)

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        model: str = MODEL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/moderations"
        self._key = api_key
        self.timeout = timeout
        self.model = model
        self._transport = transport

    def __repr__(self) -> str:  # never the key
        return f"OpenAIModerator(url={self.url!r}, model={self.model!r})"

    def moderate(self, texts: Sequence[str]) -> list[Finding]:
        if not texts:
            return []
        try:
            with httpx.Client(timeout=self.timeout, transport=self._transport) as client:
                answer = client.post(
                    self.url,
                    json={"model": self.model, "input": list(texts)},
                    headers={"Authorization": f"Bearer {self._key}"},
                )
        except httpx.TimeoutException as exc:
            raise ModeratorFailed(f"openai moderation timed out after {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ModeratorFailed(
                f"openai moderation could not be reached: {type(exc).__name__}"
            ) from exc
        if answer.status_code != 200:
            raise ModeratorFailed(f"openai moderation answered HTTP {answer.status_code}")
        try:
            return self._findings(answer.json(), len(texts))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModeratorFailed("openai moderation answered in an unexpected shape") from exc

    def _findings(self, body: Any, count: int) -> list[Finding]:
        results = body["results"]
        if not isinstance(results, list) or len(results) != count:
            raise ValueError("one result per input")
        top: dict[str, float] = {}
        flagged: set[str] = set()
        for result in results:
            flags = result["categories"]
            for name, score in result["category_scores"].items():
                ours = CATEGORY_MAP.get(name)
                if ours is None:
                    continue
                top[ours] = max(top.get(ours, 0.0), float(score))
                if flags.get(name) is True:
                    flagged.add(ours)
        return [
            Finding(category, top[category], category in flagged, self.name)
            for category in CATEGORIES
            if category in top
        ]
