"""Admin: Keys: every API key (never a secret), making one (its full key shown once, on the
answer to the form: not stored, not in a cookie, a URL or a log; the page is ``no-store``),
and revoking one. The same functions as ``/v1/admin/keys``; the key this session signed in
with cannot be revoked here (as there: sign in with another admin key)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ...exceptions import InvalidRequest
from ..admin_keys import create_key, revoke_key
from ..gateway import Gateway, gateway
from .admin import admin_session, done, field, form_data
from .sessions import Session
from .web import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


def _keys_page(
    request: Request,
    session: Session,
    gw: Gateway,
    *,
    problem: str | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    tenant = request.query_params.get("tenant") or None
    found = gw.tenants.list_keys(tenant)
    found.sort(key=lambda k: (k.revoked_at is not None, k.tenant, k.created_at))
    return page(
        request,
        "admin_keys.html",
        session,
        status=400 if problem else 200,
        title="Keys",
        keys=found,
        tenant=tenant or "",
        tenants=[t.name for t in gw.tenants.tenants()],
        problem=problem,
        typed=typed or {},
        note=request.query_params.get("done"),
    )


@router.get("/admin/keys")
async def key_list(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    return await asyncio.to_thread(_keys_page, request, session, gw)


@router.post("/admin/keys")
async def make_key(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    """The new key, shown on this answer only."""
    fields = await form_data(request, session)
    tenant = field(fields, "tenant")
    try:
        if tenant is None:
            raise InvalidRequest("name the tenant the key is for")
        made = await asyncio.to_thread(
            create_key, gw.tenants, tenant, field(fields, "name"), fields.get("admin") == "on"
        )
    except InvalidRequest as exc:
        typed = {k: v for k, v in fields.items() if k in ("tenant", "name", "admin")}
        return await asyncio.to_thread(
            _keys_page, request, session, gw, problem=str(exc), typed=typed
        )
    return page(request, "admin_key_new.html", session, title="New key", key=made)


@router.post("/admin/keys/{key_id}/revoke")
async def revoke(
    key_id: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> RedirectResponse:
    await form_data(request, session)
    await asyncio.to_thread(revoke_key, gw.tenants, key_id, session.principal)
    return done(request, "admin/keys", "revoked")
