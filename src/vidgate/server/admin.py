"""Admin endpoints (admin keys only): client-webhook deliveries and provider health. Tenants
and their limits are in ``admin_tenants.py``."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from ..exceptions import NotFound
from .auth import admin
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["redeliver_webhook", "router"]

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/webhooks", summary="Client webhook deliveries", responses=errors(400, 401, 403, 429))
async def webhook_log(
    job_id: str | None = Query(default=None, max_length=64),
    tenant: str | None = Query(default=None, max_length=128),
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: int | None = Query(
        default=None, ge=1, le=1000, description="the newest this many, newest first"
    ),
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    rows = await asyncio.to_thread(
        gw.dispatcher.deliveries, job_id, tenant, status=status, limit=limit
    )
    return {"object": "list", "data": [_jsonable(r) for r in rows]}


@router.post(
    "/webhooks/{message_id}/redeliver",
    summary="Send a delivery again",
    responses=errors(401, 403, 404, 413, 429),
)
async def redeliver(
    message_id: str, _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    await asyncio.to_thread(redeliver_webhook, gw, message_id)
    return {"id": message_id, "status": "pending"}


def redeliver_webhook(gw: Gateway, message_id: str) -> None:
    """Send a delivery again soon (the dashboard's Redeliver button too)."""
    if not gw.dispatcher.redeliver(message_id):
        raise NotFound("no webhook delivery with that id")


@router.get(
    "/providers", summary="Provider health (circuit breakers)", responses=errors(401, 403, 429)
)
async def provider_health(
    _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    health = await asyncio.to_thread(gw.engine.health)
    return {
        "object": "list",
        "data": [
            {
                "provider": h.provider,
                "state": h.state.value,
                "consecutive_failures": h.consecutive_failures,
                "detail": h.describe(),
            }
            for h in health
        ],
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
