"""``/v1/admin/safety/decisions``: the content-safety audit (admin keys only).

Every decision the safety checks made — at admission (``prompt``, ``input_image``), on a
provider's own refusal (``provider``), on a generated video (``output``) — newest first,
filtered by ``tenant``, ``job``, ``stage``, ``action`` and ``since`` (ISO 8601), at most
``limit`` (1 to 1000, default 100). A row names the categories, the top score per category, the
moderators and the policy that decided; never the offending text.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends

from ..exceptions import InvalidRequest
from ..safety import audit
from .auth import admin
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin/safety", tags=["admin"])


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            "since is an ISO 8601 time, like 2026-12-01T00:00:00Z", details={"param": "since"}
        ) from None


@router.get(
    "/decisions",
    summary="Content-safety decisions, newest first",
    responses=errors(400, 401, 403, 429),
)
async def decisions(
    tenant: str | None = None,
    job: str | None = None,
    stage: str | None = None,
    action: str | None = None,
    since: str | None = None,
    limit: int = 100,
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    rows = await asyncio.to_thread(
        audit.query,
        gw.engine.database,
        tenant=tenant,
        job_id=job,
        stage=stage,
        action=action,
        since=_since(since),
        limit=limit,
    )
    return {"object": "list", "data": [{"object": "safety.decision", **r.to_json()} for r in rows]}
