"""``GET /v1/stats/providers``: per provider and model over the last hour, day or week —
attempts, how they ended, the success rate, generation time p50/p95, error codes, the price of
a delivered second (``vidgate.insights``). A tenant's key sees its own jobs' attempts; an admin
key sees everyone's, or one tenant's with ``?tenant=``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends

from .auth import principal
from .errors import errors
from .gateway import Gateway, gateway
from .spend import tenant_scope
from .tenancy import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get(
    "/stats/providers",
    summary="Provider and model figures over the last hour, day or week",
    responses=errors(400, 401, 429),
)
async def provider_stats(
    window: str = "day",
    tenant: str | None = None,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    scope = tenant_scope(who, tenant, "figures")
    found = await asyncio.to_thread(gw.engine.provider_stats, window, tenant=scope)
    return found.to_dict()
