"""The Admin pages' front: the overview (counts, linking each section), what every admin page
shares (an admin session, reading form fields), and the Tenants section (each tenant's limits
and policies; its limits form goes through ``PATCH /v1/admin/tenants/{name}``'s own function).

The other sections are ``admin_keys.py``, ``admin_budgets.py``, ``admin_quarantine.py`` and
``admin_webhooks.py``. Every page and form here is for admin sessions only: a tenant's session
gets a 403 page. Each action calls the function its admin API route calls.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ...exceptions import InvalidRequest, PermissionDenied, VidgateError
from ...priority.model import Priority, Strategy
from ..admin_tenants import change_tenant, tenant_details
from ..gateway import Gateway, gateway
from ..tenancy import LIMIT_FIELDS, UNCERTAIN_SUBMIT_POLICIES
from .sessions import Session
from .web import PageRoute, check_csrf, dashboard_path, page, viewer

__all__ = ["admin_session", "done", "field", "form_data", "number", "router"]

router = APIRouter(route_class=PageRoute)


async def admin_session(session: Session = Depends(viewer)) -> Session:
    """The signed-in session if its key is an admin's; a 403 page otherwise."""
    if not session.principal.admin:
        raise PermissionDenied("the admin pages need a session signed in with an admin key")
    return session


async def form_data(request: Request, session: Session) -> dict[str, str]:
    """A POSTed form's text fields, after the CSRF check (which comes first: nothing is read
    or changed for a forged post)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, session, fields.get("csrf"))
    return fields


def field(fields: dict[str, str], name: str) -> str | None:
    """A text field, trimmed; empty: None (a cleared limit)."""
    value = fields.get(name, "").strip()
    return value or None


def number(fields: dict[str, str], name: str, *, whole: bool = False) -> Any:
    """A number field: empty → None, a number → int or float; anything else is handed on as
    typed, so the API's own check refuses it with the API's own message."""
    value = field(fields, name)
    if value is None:
        return None
    try:
        return int(value) if whole else float(value)
    except ValueError:
        if whole:
            try:
                return float(value)  # 2.5 for a count: the check says "a whole number"
            except ValueError:
                pass
        return value


def done(request: Request, target: str, note: str) -> RedirectResponse:
    """Back to a page after an action, with a short note of what happened (one of the
    page's fixed notes, never text from the request)."""
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(
        f"{dashboard_path(request, target)}{joiner}done={note}", status_code=303
    )


@router.get("/admin")
async def overview(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    def counts() -> dict[str, int]:
        return {
            "tenants": len(gw.tenants.tenants()),
            "keys": gw.tenants.count_keys(),
            "failed": gw.dispatcher.count("failed"),
        }

    found = await asyncio.to_thread(counts)
    held = await gw.engine.quarantine.list(status="held", limit=1000)
    return page(
        request, "admin.html", session, title="Admin", counts=found, held=len(held), capped=1000
    )


@router.get("/admin/tenants")
async def tenant_list(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    found = await asyncio.to_thread(gw.tenants.tenants)
    return page(request, "admin_tenants.html", session, title="Tenants", tenants=found)


def _tenant_page(
    request: Request,
    session: Session,
    gw: Gateway,
    details: dict[str, Any],
    *,
    typed: dict[str, str] | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    shown = _form_values(details) if typed is None else typed
    return page(
        request,
        "admin_tenant.html",
        session,
        status=400 if problem else 200,
        title=f"Tenant {details['name']}",
        t=details,
        form=shown,
        problem=problem,
        note=request.query_params.get("done"),
        priorities=[p.value for p in Priority],
        strategies=[s.value for s in Strategy],
        uncertain=UNCERTAIN_SUBMIT_POLICIES,
        policy=json.dumps(details["safety_policy"], indent=2),
    )


def _form_values(details: dict[str, Any]) -> dict[str, str]:
    """The tenant's limits as the form's fields show them (empty: no limit, the default)."""
    shown = {name: _text(details.get(name)) for name in LIMIT_FIELDS}
    for p in Priority:
        shown[f"strategy_{p.value}"] = (details.get("strategies") or {}).get(p.value, "")
    profile = details.get("delivery_profile")
    shown["delivery_profile"] = json.dumps(profile, indent=2) if profile else ""
    return shown


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict):
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _limits_body(fields: dict[str, str]) -> dict[str, Any]:
    """The form as a PATCH body naming every limit (an empty field clears one)."""
    profile = field(fields, "delivery_profile")
    if profile is not None:
        try:
            parsed: Any = json.loads(profile)
        except ValueError:
            raise InvalidRequest(
                'delivery_profile is JSON like {"tiers": ["720p"], "webm": true}, or empty'
            ) from None
    body: dict[str, Any] = {
        "rate_limit": field(fields, "rate_limit"),
        "max_concurrent": number(fields, "max_concurrent", whole=True),
        "daily_videos": number(fields, "daily_videos", whole=True),
        "deadline_seconds": number(fields, "deadline_seconds"),
        "uncertain_submit": field(fields, "uncertain_submit"),
        "default_priority": field(fields, "default_priority"),
        "strategies": {p.value: field(fields, f"strategy_{p.value}") for p in Priority},
        "cache_similarity": number(fields, "cache_similarity"),
        "delivery_profile": parsed if profile is not None else None,
    }
    assert set(body) == set(LIMIT_FIELDS)
    return body


@router.get("/admin/tenants/{name}")
async def tenant_page(
    name: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    details = await asyncio.to_thread(lambda: tenant_details(gw, gw.tenants.get_tenant(name)))
    return _tenant_page(request, session, gw, details)


@router.post("/admin/tenants/{name}", response_model=None)
async def change_limits(
    name: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse | RedirectResponse:
    """The limits form: the PATCH's own checks; a refused value shows the form again, as
    typed, with the reason."""
    fields = await form_data(request, session)
    try:
        await asyncio.to_thread(change_tenant, gw, name, _limits_body(fields))
    except VidgateError as exc:
        if exc.http_status != 400:
            raise  # no such tenant: the error page
        details = await asyncio.to_thread(lambda: tenant_details(gw, gw.tenants.get_tenant(name)))
        return _tenant_page(request, session, gw, details, typed=fields, problem=str(exc))
    return done(request, f"admin/tenants/{name}", "saved")
