"""Admin: Webhooks: the recent client-webhook deliveries (status, attempts, last error, event,
tenant), failed ones alone on request, and Redeliver — ``/v1/admin/webhooks``'s own calls."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ...exceptions import InvalidRequest
from ..admin import redeliver_webhook
from ..gateway import Gateway, gateway
from .admin import admin_session, done, form_data
from .sessions import Session
from .web import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)

_STATUSES = ("pending", "delivered", "failed")
_RECENT = 200


@router.get("/admin/webhooks")
async def delivery_list(
    request: Request,
    status: str = "",
    tenant: str = "",
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    if status and status not in _STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(_STATUSES)}")
    rows = await asyncio.to_thread(
        gw.dispatcher.deliveries,
        None,
        tenant.strip() or None,
        status=status or None,
        limit=_RECENT,
    )
    return page(
        request,
        "admin_webhooks.html",
        session,
        title="Webhook deliveries",
        rows=rows,
        which=status,
        tenant=tenant.strip(),
        statuses=_STATUSES,
        recent=_RECENT,
        note=request.query_params.get("done"),
    )


@router.post("/admin/webhooks/{message_id}/redeliver")
async def redeliver(
    message_id: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> RedirectResponse:
    fields = await form_data(request, session)
    await asyncio.to_thread(redeliver_webhook, gw, message_id)
    back = "failed" if fields.get("status") == "failed" else ""
    return done(request, "admin/webhooks" + (f"?status={back}" if back else ""), "redelivered")
