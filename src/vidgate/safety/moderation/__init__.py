"""The moderation chain run on every prompt at admission: one module per moderator, each behind
the ``Moderator`` protocol (``base``): ``rules`` (term lists), ``classifier`` (a local model),
``openai`` (OpenAI's moderation API); ``chain`` runs them."""

from __future__ import annotations

from .base import Moderator, ModeratorFailed
from .chain import ChainResult, ModerationChain, build_chain

__all__ = ["ChainResult", "ModerationChain", "Moderator", "ModeratorFailed", "build_chain"]
