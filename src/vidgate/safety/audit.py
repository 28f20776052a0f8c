"""Every safety decision, recorded and queryable (``safety_decisions``).

One row per decision at one stage — ``prompt`` (admission), ``input_image``, ``output`` (the
generated video), ``provider`` (a provider's own safety refusal) — allow-with-findings included:
which moderators spoke, the action, the flagged categories, the top score per category, and the
policy snapshot that decided. Never the offending text.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .._clock import as_utc, utcnow
from ..db.tables import safety_decisions
from ..exceptions import InvalidRequest
from .policy import Decision, SafetyPolicy

__all__ = ["STAGES", "AuditEntry", "query", "record"]

STAGES: tuple[str, ...] = ("prompt", "input_image", "output", "provider")
_INSERT = safety_decisions.insert()
#: The most rows one query returns.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class AuditEntry:
    id: str
    job_id: str | None
    tenant: str
    stage: str
    moderator: str
    action: str
    categories: tuple[str, ...]
    scores: dict[str, float]
    policy: dict[str, Any]
    detail: str | None
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "tenant": self.tenant,
            "stage": self.stage,
            "moderator": self.moderator,
            "action": self.action,
            "categories": list(self.categories),
            "scores": self.scores,
            "policy": self.policy,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
        }


def _scores(decision: Decision) -> dict[str, float]:
    top: dict[str, float] = {}
    for finding in decision.findings:
        top[finding.category] = max(top.get(finding.category, 0.0), round(finding.score, 4))
    return top


def record(
    database: sa.Engine | sa.Connection,
    *,
    tenant: str,
    job_id: str | None,
    stage: str,
    decision: Decision,
    policy: SafetyPolicy,
    detail: str | None = None,
    moderator: str | None = None,
    entry_id: str | None = None,
) -> str:
    """Store one decision; returns its id. ``detail`` defaults to the findings' own details;
    ``moderator`` to their sources, joined; ``entry_id`` to a new id. Given a connection, the
    row is written in its transaction (admission writes it with the job, in one commit)."""
    if stage not in STAGES:
        raise ValueError(f"stage is one of {STAGES}, not {stage!r}")
    sources = moderator or ",".join(sorted({f.source for f in decision.findings}))
    if detail is None:
        parts = [f"{f.source}: {f.detail}" for f in decision.findings if f.detail]
        detail = "; ".join(parts)[:2000] or None
    entry_id = entry_id or "sdec_" + secrets.token_hex(10)
    row = {
        "id": entry_id,
        "job_id": job_id,
        "tenant": tenant,
        "stage": stage,
        "moderator": sources[:255],
        "action": decision.action,
        "categories": list(decision.categories),
        "scores": _scores(decision),
        "policy": policy.to_json(),
        "detail": detail,
        "created_at": utcnow(),
    }
    if isinstance(database, sa.Connection):
        database.execute(_INSERT, row)
    else:
        with database.begin() as conn:
            conn.execute(_INSERT, row)
    return entry_id


def query(
    database: sa.Engine,
    *,
    tenant: str | None = None,
    job_id: str | None = None,
    stage: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Decisions matching every filter given, newest first, at most ``limit`` (up to 1000)."""
    if stage is not None and stage not in STAGES:
        raise InvalidRequest(f"stage is one of {', '.join(STAGES)}", details={"param": "stage"})
    if action is not None and action not in ("block", "flag", "allow"):
        raise InvalidRequest("action is one of block, flag, allow", details={"param": "action"})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit is 1 to {MAX_LIMIT}", details={"param": "limit"})
    t = safety_decisions.c
    statement = sa.select(safety_decisions)
    for column, value in (
        (t.tenant, tenant),
        (t.job_id, job_id),
        (t.stage, stage),
        (t.action, action),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(t.created_at >= since)
    statement = statement.order_by(t.created_at.desc(), t.id.desc()).limit(limit)
    with database.connect() as conn:
        rows = conn.execute(statement).mappings().all()
    return [
        AuditEntry(
            id=r["id"],
            job_id=r["job_id"],
            tenant=r["tenant"],
            stage=r["stage"],
            moderator=r["moderator"],
            action=r["action"],
            categories=tuple(r["categories"] or ()),
            scores=dict(r["scores"] or {}),
            policy=dict(r["policy"] or {}),
            detail=r["detail"],
            created_at=as_utc(r["created_at"]) or r["created_at"],
        )
        for r in rows
    ]
