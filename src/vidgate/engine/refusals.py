"""A provider's own safety refusal of a job's content: what the tenant's policy does with it.

Each adapter classifies a refusal (``ContentRejected``: ``stage`` input or output, ``charged``
or not — from Runway's ``SAFETY.INPUT.*``/``SAFETY.OUTPUT.*``, fal's ``content_policy_violation``,
Replicate's flagged-content failures, OpenAI's ``moderation_blocked``, Gemini's and Vertex's RAI
filters, Luma's wording). The tenant's safety policy (``on_provider_refusal``; the operator's
default follows ``VIDGATE_FALLBACK_ON_MODERATION``) decides whether the job goes on with the
next provider or fails. Either way the refusal is audited (stage ``provider``) and the job's
history says what was refused, whether it was charged, and what happens next.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS

from ..exceptions import ContentRejected
from ..safety import audit
from ..safety.categories import OTHER, POLICY_CATEGORIES
from ..safety.policy import Decision, Finding, load_policy
from .payloads import ErrorPayload
from .runtime import current

__all__ = ["is_refusal", "provider_refusal_step", "refusal_choice", "what_next"]


def refusal_choice(tenant: str) -> str:
    """The tenant's ``on_provider_refusal``: ``fallback`` or ``fail``."""
    rt = current()
    return load_policy(rt.store.engine, tenant, rt.settings).on_provider_refusal


def is_refusal(error: ErrorPayload) -> bool:
    return error["code"] == ContentRejected.code


def what_next(choice: str, more: bool) -> str:
    if choice != "fallback":
        return "the job fails (on_provider_refusal = fail)"
    if more:
        return "trying the next provider (on_provider_refusal = fallback)"
    return "no other provider is left to try"


@DBOS.step(name="vidgate.provider_refusal")
async def provider_refusal_step(job_id: str, error: ErrorPayload, then: str) -> None:
    """Audit a provider's refusal (stage ``provider``) and say on the job what happens next."""
    rt = current()
    job = rt.store.get(job_id)
    details: dict[str, Any] = error.get("details") or {}
    provider = str(details.get("provider") or "provider")
    stage = "output" if details.get("stage") == "output" else "input"
    charged = bool(details.get("charged"))
    category = details.get("category")
    category = category if category in POLICY_CATEGORIES else OTHER
    code = details.get("provider_code")
    said = f"{stage} refused, {'charged' if charged else 'not charged'}"
    finding = Finding(
        str(category), 1.0, True, provider, detail=f"{said}" + (f", {code}" if code else "")
    )
    policy = load_policy(rt.store.engine, job.tenant, rt.settings)
    audit.record(
        rt.store.engine,
        tenant=job.tenant,
        job_id=job_id,
        stage="provider",
        decision=Decision("block", (str(category),), (finding,)),
        policy=policy,
        moderator=provider,
        detail=f"{said}; {then}",
    )
    rt.store.add_event(
        job_id,
        job.phase,
        job.progress,
        f"{provider} refused the content ({said}): {then}",
    )
