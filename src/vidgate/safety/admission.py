"""The safety stage of admission: moderate a request's prompt texts (and, through a hook, its
local input images) under the tenant's policy, before anything is submitted or reserved.

``SafetyGate.check`` runs after the template is expanded and the route planned, on every text a
provider may be sent — the neutral prompt, and the prompt as rendered for each model the job may
try (a template's per-provider overrides included). Negative prompts are not moderated: they
name what to keep out, and naming gore there is no request for it (a model without a negative
field gets the prompt rendered without it here, so its fold is not moderated either).

``block`` raises ``ContentBlocked`` (422 ``content_rejected``: the categories, never the text)
after auditing the decision; otherwise the verdict rides on the job (``Job.moderation``) and is
audited against it (``record``) once the job exists.

Image inputs: ``image_scanner`` — a callable taking the request's local image paths and
returning findings (``vidgate.safety.scan``'s image scanner, wired by the engine's owner) — is
run on ``input_images(request)``; its decision is audited at stage ``input_image`` and counts
toward the request's action. URLs are not fetched here (the provider fetches them).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ..catalog import Catalog
from ..catalog.schema import ModelProfile
from ..exceptions import ContentBlocked
from ..prompts.render import render
from ..settings import Settings
from ..types import ModerationMark, VideoRequest
from . import audit
from .moderation import ChainResult, ModerationChain, build_chain
from .policy import Decision, Finding, SafetyPolicy, decide, load_policy, severity

__all__ = ["ImageScanner", "SafetyGate", "Verdict", "input_images", "prompt_texts"]

#: The image hook: local image paths in, findings out.
ImageScanner = Callable[[Sequence[Path]], list[Finding]]


def prompt_texts(request: VideoRequest, models: Sequence[ModelProfile]) -> list[str]:
    """The texts a provider may be sent for ``request`` (its negative prompt left out), each
    once."""
    overrides = {
        k: v.model_copy(update={"negative": ""}) for k, v in request.prompt_overrides.items()
    }
    positive = request.model_copy(update={"negative_prompt": None, "prompt_overrides": overrides})
    texts = [request.prompt]
    for model in models:
        texts.append(render(positive, model).prompt)
    return list(dict.fromkeys(t for t in texts if t.strip()))


def input_images(request: VideoRequest) -> list[Path]:
    """The request's local image inputs (first and last frame); URLs are left to the provider."""
    return [
        Path(ref)
        for ref in (request.image, request.last_frame)
        if ref and "://" not in ref and not ref.startswith("data:")
    ]


@dataclass(frozen=True)
class Verdict:
    """What admission's safety check decided for a request it let through."""

    decision: Decision
    policy: SafetyPolicy
    result: ChainResult
    decision_id: str
    images: Decision | None = None

    @property
    def mark(self) -> ModerationMark:
        action = self.decision.action
        return ModerationMark(
            action="flag" if action == "flag" else "allow",
            categories=list(self.decision.categories),
            moderators=list(self.result.ran),
            decision_id=self.decision_id,
            unchecked=list(self.result.failed),
        )


def _detail(result: ChainResult) -> str | None:
    parts = [f"{f.source}: {f.detail}" for f in result.findings if f.detail and f.flagged]
    if result.failed:
        parts.append("failed, not checked: " + ", ".join(result.failed))
    return "; ".join(parts)[:2000] or None


class SafetyGate:
    """Admission's safety check for one engine: its database, settings and catalogue."""

    def __init__(
        self,
        database: sa.Engine,
        settings: Settings,
        catalog: Catalog,
        *,
        chain: ModerationChain | None = None,
        image_scanner: ImageScanner | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.catalog = catalog
        self._chain = chain
        self.image_scanner = image_scanner

    @property
    def chain(self) -> ModerationChain:
        if self._chain is None:
            self._chain = build_chain(self.settings, self.catalog)
        return self._chain

    def policy(self, tenant: str) -> SafetyPolicy:
        return load_policy(self.database, tenant, self.settings)

    def check(
        self,
        request: VideoRequest,
        models: Sequence[ModelProfile],
        tenant: str,
        policy: SafetyPolicy | None = None,
    ) -> Verdict | None:
        """Moderate ``request``; ``ContentBlocked`` if the tenant's policy blocks it (audited
        here), else the verdict (None when no moderator is configured and no image scanner).
        ``policy`` is the tenant's, when the caller has read it already."""
        chain = self.chain
        images = input_images(request) if self.image_scanner is not None else []
        if not chain.moderators and not images:
            return None
        if policy is None:
            policy = self.policy(tenant)
        result = chain.run(prompt_texts(request, models), policy)
        decision = decide(policy, result.findings)
        image_decision = self.check_images(images, tenant, policy) if images else None
        if decision.action == "block":
            self._record(tenant, None, "prompt", decision, policy, result)
            raise ContentBlocked(decision.categories, stage="prompt")
        if image_decision is not None and image_decision.action == "block":
            raise ContentBlocked(image_decision.categories, stage="input_image")
        if image_decision is not None and severity(image_decision.action) > severity(
            decision.action
        ):
            decision = Decision(
                image_decision.action,
                tuple(dict.fromkeys((*decision.categories, *image_decision.categories))),
                decision.findings + image_decision.findings,
            )
        return Verdict(decision, policy, result, "sdec_" + secrets.token_hex(10), image_decision)

    def check_images(
        self, paths: Sequence[Path], tenant: str, policy: SafetyPolicy
    ) -> Decision | None:
        """The image hook: run ``image_scanner`` on local input images; a blocking decision is
        audited here (the request is refused), any other with the job (``record``)."""
        if self.image_scanner is None or not paths:
            return None
        decision = decide(policy, self.image_scanner(paths))
        if decision.action == "block":
            audit.record(
                self.database,
                tenant=tenant,
                job_id=None,
                stage="input_image",
                decision=decision,
                policy=policy,
            )
        return decision

    def _record(
        self,
        tenant: str,
        job_id: str | None,
        stage: str,
        decision: Decision,
        policy: SafetyPolicy,
        result: ChainResult,
        entry_id: str | None = None,
    ) -> str:
        return audit.record(
            self.database,
            tenant=tenant,
            job_id=job_id,
            stage=stage,
            decision=decision,
            policy=policy,
            detail=_detail(result),
            moderator=",".join((*result.ran, *result.failed)) or "none",
            entry_id=entry_id,
        )

    def record(
        self,
        verdict: Verdict,
        *,
        tenant: str,
        job_id: str,
        connection: sa.Connection | None = None,
    ) -> None:
        """Audit an admitted request's decisions against its job (in ``connection``'s
        transaction when given: admission writes them with the job, in one commit)."""
        prompt = decide(verdict.policy, verdict.result.findings)
        result = verdict.result
        audit.record(
            connection if connection is not None else self.database,
            tenant=tenant,
            job_id=job_id,
            stage="prompt",
            decision=prompt,
            policy=verdict.policy,
            detail=_detail(result),
            moderator=",".join((*result.ran, *result.failed)) or "none",
            entry_id=verdict.decision_id,
        )
        if verdict.images is not None:
            audit.record(
                connection if connection is not None else self.database,
                tenant=tenant,
                job_id=job_id,
                stage="input_image",
                decision=verdict.images,
                policy=verdict.policy,
            )
