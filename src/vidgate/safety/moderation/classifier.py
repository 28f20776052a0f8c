"""The local classifier moderator: ``alt-profanity-check``'s linear model, shipped inside the
package (``profanity_check/data/model.joblib``), so it runs offline in well under a millisecond
a prompt. It scores offensive and abusive language only, reported as ``harassment``; nothing on
the package index ships an offline model for the other categories (sexual, violence…), which the
term lists and the OpenAI moderation API cover. Install it with ``pip install
'vidgate[moderation]'`` and enable it with ``VIDGATE_MODERATION=rules,classifier``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from typing import Any

from ...exceptions import ConfigurationError
from ..policy import Finding
from .base import ModeratorFailed

__all__ = ["ClassifierModerator", "load_classifier"]

#: The probability at and above which a text is flagged.
THRESHOLD = 0.85


def load_classifier() -> Any:
    """The package's ``predict_prob``; ``ConfigurationError`` when it is not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's version notices
            module = importlib.import_module("profanity_check")
    except ImportError as exc:
        raise ConfigurationError(
            "VIDGATE_MODERATION names 'classifier', which needs the alt-profanity-check "
            "package: pip install 'vidgate[moderation]'"
        ) from exc
    return module.predict_prob


class ClassifierModerator:
    name = "classifier"
    covers = frozenset({"harassment"})

    def __init__(self, predict: Any | None = None, threshold: float = THRESHOLD) -> None:
        self._predict = predict or load_classifier()
        self.threshold = threshold

    def moderate(self, texts: Sequence[str]) -> list[Finding]:
        if not texts:
            return []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = [float(s) for s in self._predict(list(texts))]
        except Exception as exc:  # a model that cannot score is a failed moderator
            raise ModeratorFailed(f"the classifier failed: {type(exc).__name__}") from exc
        top = max(scores)
        return [
            Finding(
                "harassment",
                top,
                top >= self.threshold,
                self.name,
                detail="offensive-language model (alt-profanity-check)",
            )
        ]
