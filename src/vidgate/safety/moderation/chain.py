"""The moderation chain: the moderators ``VIDGATE_MODERATION`` names, run in order on the texts
of one request, their findings put together.

A moderator that fails (``ModeratorFailed``: an error answer, a timeout) leaves its categories
unchecked unless another moderator that answered covers them. ``VIDGATE_MODERATION_ON_ERROR``
decides what then happens: ``closed`` (the default) refuses the request with
``moderation_unavailable`` (503) when a category the tenant's policy blocks went unchecked —
a policy that only flags or allows it does not need the check to be sure; ``open`` admits it,
and the audit and the job's ``moderation`` name the moderator that failed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ...catalog import Catalog
from ...exceptions import ConfigurationError, ModerationUnavailable
from ...settings import Settings
from ..policy import Finding, SafetyPolicy
from .base import Moderator, ModeratorFailed
from .classifier import ClassifierModerator
from .openai import OpenAIModerator
from .rules import RulesModerator, load_terms

__all__ = ["ChainResult", "ModerationChain", "build_chain", "moderator_names"]

log = logging.getLogger("vidgate.safety")

MODERATORS = ("rules", "classifier", "openai")


@dataclass(frozen=True)
class ChainResult:
    findings: tuple[Finding, ...]
    ran: tuple[str, ...]  # moderators that answered
    failed: tuple[str, ...]  # moderators that failed (on_error=open let the request through)
    unchecked: frozenset[str]  # categories no moderator that answered covers


class ModerationChain:
    def __init__(self, moderators: Sequence[Moderator], *, on_error: str = "closed") -> None:
        self.moderators = tuple(moderators)
        self.on_error = on_error

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.moderators)

    def run(self, texts: Sequence[str], policy: SafetyPolicy) -> ChainResult:
        findings: list[Finding] = []
        ran: list[str] = []
        failed: list[tuple[str, str]] = []
        covered: set[str] = set()
        lost: set[str] = set()
        for moderator in self.moderators:
            try:
                findings.extend(moderator.moderate(texts))
            except ModeratorFailed as exc:
                log.warning("moderator %s failed: %s", moderator.name, exc)
                failed.append((moderator.name, str(exc)))
                lost |= moderator.covers
                continue
            ran.append(moderator.name)
            covered |= moderator.covers
        unchecked = frozenset(lost - covered)
        blocked = sorted(c for c in unchecked if policy.action(c) == "block")
        if failed and blocked and self.on_error == "closed":
            raise ModerationUnavailable(
                "content moderation is unavailable (" + "; ".join(m for _, m in failed) + "): "
                "the request was not admitted; try again",
                details={"moderators": [n for n, _ in failed], "unchecked": blocked},
            )
        return ChainResult(tuple(findings), tuple(ran), tuple(n for n, _ in failed), unchecked)


def moderator_names(settings: Settings) -> list[str]:
    names = [n.strip() for n in settings.moderation.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODERATORS]
    if unknown:
        raise ConfigurationError(
            f"VIDGATE_MODERATION names unknown moderator(s) {', '.join(unknown)[:80]}; "
            f"the moderators are {', '.join(MODERATORS)}"
        )
    return names


def _openai(settings: Settings, catalog: Catalog) -> OpenAIModerator:
    profile = catalog.providers.get("openai")
    variables = list(profile.env_keys) if profile is not None else ["OPENAI_API_KEY"]
    key = next((os.environ[v] for v in variables if os.environ.get(v)), None)
    if key is None:
        raise ConfigurationError(
            "VIDGATE_MODERATION names 'openai', whose moderation API needs "
            + " or ".join(variables)
        )
    base = settings.openai_base_url
    if not base and settings.simulator_url:
        base = settings.simulator_url.rstrip("/") + "/openai/v1"
    base = base or (profile.base_url if profile is not None else None)
    return OpenAIModerator(
        base_url=base or "https://api.openai.com/v1",
        api_key=key,
        timeout=settings.moderation_timeout,
    )


def build_chain(settings: Settings, catalog: Catalog) -> ModerationChain:
    """The chain ``VIDGATE_MODERATION`` names; a moderator that cannot be set up is a
    ``ConfigurationError`` naming what to fix."""
    moderators: list[Moderator] = []
    for name in moderator_names(settings):
        if name == "rules":
            moderators.append(RulesModerator(load_terms(settings.safety_terms)))
        elif name == "classifier":
            moderators.append(ClassifierModerator())
        else:
            moderators.append(_openai(settings, catalog))
    return ModerationChain(moderators, on_error=settings.moderation_on_error)
