"""The one interface every moderator implements, and the error a failing one raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..policy import Finding

__all__ = ["Moderator", "ModeratorFailed"]


class ModeratorFailed(Exception):
    """A moderator could not answer (an API error, a timeout, a model that did not load).
    The message names what failed and never carries a key or the moderated text."""


@runtime_checkable
class Moderator(Protocol):
    """Reads texts and reports findings by category (``vidgate.safety.categories``)."""

    #: A short stable name: the audit's ``moderator`` and a finding's ``source``.
    name: str
    #: The categories it can find (what is left unchecked when it fails).
    covers: frozenset[str]

    def moderate(self, texts: Sequence[str]) -> list[Finding]:
        """Findings for ``texts`` taken together (flagged or not); raises ``ModeratorFailed``."""
        ...
