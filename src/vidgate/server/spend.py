"""``GET /v1/spend``: what was really charged, from the ledger; ``GET /v1/spend/series``: the
same money over time (``vidgate.insights``). A tenant's key sees its own tenant; an admin key
sees every tenant, or one with ``?tenant=``."""

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

__all__ = ["parse_since", "router", "tenant_scope"]

router = APIRouter(prefix="/v1", tags=["spend"])


def tenant_scope(who: Principal, tenant: str | None, what: str) -> str | None:
    """The tenant a report covers: a tenant's key its own (naming another is refused), an
    admin's the one named, or everyone (None)."""
    if who.admin:
        return tenant or None
    if tenant not in (None, who.tenant):
        raise InvalidRequest(f"a tenant's key reports only its own tenant's {what}")
    return who.tenant


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
    tenant = tenant_scope(who, tenant, "spend")
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


@router.get(
    "/spend/series",
    summary="Money charged over time: per hour or day, by provider, model, user or template",
    responses=errors(400, 401, 429),
)
async def spend_series(
    by: str = "provider",
    window: str = "day",
    bucket: str | None = None,
    top: int = 5,
    tenant: str | None = None,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    """``window`` day, week or month (ending now); ``bucket`` hour or day (by default hours for
    a day, days otherwise; a tenant's days are its own calendar's); ``top`` dearest users and
    templates of the window; the calendar month to date with its projection."""
    found = await asyncio.to_thread(
        gw.engine.spend_series,
        by=by,
        window=window,
        bucket=bucket,
        tenant=tenant_scope(who, tenant, "spend"),
        top=top,
    )
    return found.to_dict()
