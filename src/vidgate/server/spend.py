"""``GET /v1/spend``: what was really charged, from the ledger. A tenant's key sees its own
tenant; an admin key sees every tenant, or one with ``?tenant=``."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends

from ..accounting import check_user, spend_report
from ..exceptions import InvalidRequest
from .auth import principal
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["parse_since", "router"]

router = APIRouter(prefix="/v1", tags=["spend"])


def parse_since(text: str | None) -> datetime | None:
    """``2026-12-01`` (midnight UTC) or an ISO time; None stays None."""
    if not text:
        return None
    if len(text) > 40:
        raise InvalidRequest("since is a date (2026-12-01) or an ISO time")
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        found = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"since is a date (2026-12-01) or an ISO time, not {text!r}") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


@router.get(
    "/spend",
    summary="Money charged, from the ledger, grouped by provider, model, user or day",
    responses=errors(400, 401, 429),
)
async def spend(
    by: str = "provider",
    since: str | None = None,
    user: str | None = None,
    tenant: str | None = None,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    if not who.admin:
        if tenant not in (None, who.tenant):
            raise InvalidRequest("a tenant's key reports only its own tenant's spend")
        tenant = who.tenant
    start = parse_since(since)
    lines = await asyncio.to_thread(
        spend_report,
        gw.engine.database,
        by=by,
        tenant=tenant,
        user=check_user(user) if user else None,
        since=start,
    )
    return {
        "object": "spend.report",
        "tenant": tenant,
        "user": user,
        "since": start.isoformat() if start else None,
        "by": by,
        "total_usd": round(sum(line.usd for line in lines), 6),
        "data": [line.to_dict(by) for line in lines],
    }
