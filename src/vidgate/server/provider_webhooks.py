"""``/webhooks/{provider}/…``: providers' pushes. The engine verifies each with the provider's
adapter and wakes the attempt waiting for it (which then polls at once), so a push only ever
makes a job faster; polling stays the backstop."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..exceptions import ProviderAuthError
from .errors import errors
from .gateway import Gateway, gateway

__all__ = ["router"]

router = APIRouter(tags=["webhooks"])
log = logging.getLogger("vidgate.webhooks")


@router.post("/webhooks/{provider}", include_in_schema=False)
@router.post(
    "/webhooks/{provider}/{token:path}",
    summary="Provider webhooks",
    responses=errors(401, 404, 413),
)
async def provider_webhook(
    provider: str, request: Request, token: str | None = None, gw: Gateway = Depends(gateway)
) -> JSONResponse:
    """Verify a provider's push and wake the attempt waiting for it."""
    body = await request.body()
    try:
        # In a thread: verifying may fetch a key (a JWKS, a webhook secret) the first time.
        woken = await asyncio.to_thread(
            gw.engine.receive_webhook, provider, dict(request.headers), body, url_token=token
        )
    except ProviderAuthError as exc:
        log.warning("rejected a %s webhook from %s: %s", provider, request.client, exc.message)
        return JSONResponse({"error": {"code": exc.code, "message": "rejected"}}, 401)
    return JSONResponse({"status": "accepted" if woken else "ignored"})
