"""Admin: Budgets: every budget and quota (a tenant's, or one end user's) with how each limit
stands now; setting one (a replacement, as ``PUT /v1/admin/budgets/{tenant}``: an empty field
is no limit) and deleting one — the admin API's own functions."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ...accounting import Budget
from ...accounting.budgets import LIMITS
from ...exceptions import InvalidRequest
from ..admin_budgets import delete_budget, list_budgets_of, replace_budget
from ..gateway import Gateway, gateway
from .admin import admin_session, done, field, form_data, number
from .sessions import Session
from .web import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


def _shown(budget: Budget | None) -> dict[str, str]:
    """A budget as the form's fields (empty: no limit)."""
    if budget is None:
        return {}
    values = {name: getattr(budget, name) for name in LIMITS}
    shown = {k: "" if v is None else f"{v:g}" for k, v in values.items()}
    shown.update(tenant=budget.tenant, user=budget.user, timezone=budget.timezone or "")
    shown["thresholds"] = ", ".join(f"{t:g}" for t in budget.thresholds or ())
    return shown


def _budgets_page(
    request: Request,
    session: Session,
    gw: Gateway,
    *,
    typed: dict[str, str] | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    found = list_budgets_of(gw, None, None)
    q = request.query_params
    chosen = next(
        (b for b in found if b.tenant == q.get("tenant") and b.user == q.get("user", "")), None
    )
    return page(
        request,
        "admin_budgets.html",
        session,
        status=400 if problem else 200,
        title="Budgets",
        budgets=found,
        form=typed if typed is not None else _shown(chosen),
        problem=problem,
        note=q.get("done"),
        tenants=[t.name for t in gw.tenants.tenants()],
    )


def _thresholds(fields: dict[str, str]) -> Any:
    """``50, 80, 100`` → ``[50.0, 80.0, 100.0]``; anything else is handed on for the check."""
    text = field(fields, "thresholds")
    if text is None:
        return None
    try:
        return [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        return text


@router.get("/admin/budgets")
async def budget_list(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    return await asyncio.to_thread(_budgets_page, request, session, gw)


@router.post("/admin/budgets", response_model=None)
async def set_budget(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> HTMLResponse | RedirectResponse:
    fields = await form_data(request, session)
    tenant, user = field(fields, "tenant"), field(fields, "user")
    body: dict[str, Any] = {
        "daily_usd": number(fields, "daily_usd"),
        "monthly_usd": number(fields, "monthly_usd"),
        "daily_videos": number(fields, "daily_videos", whole=True),
        "monthly_seconds": number(fields, "monthly_seconds"),
    }
    tenant_only = {"timezone": field(fields, "timezone"), "thresholds": _thresholds(fields)}
    for name, value in tenant_only.items():
        if value is not None or user is None:  # a user's budget has neither
            body[name] = value
    try:
        if tenant is None:
            raise InvalidRequest("name the tenant the budget is for")
        await asyncio.to_thread(replace_budget, gw, tenant, user, body)
    except InvalidRequest as exc:
        typed = {k: v for k, v in fields.items() if k != "csrf"}
        return await asyncio.to_thread(
            _budgets_page, request, session, gw, typed=typed, problem=str(exc)
        )
    return done(request, "admin/budgets", "saved")


@router.post("/admin/budgets/delete")
async def remove_budget(
    request: Request, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> RedirectResponse:
    fields = await form_data(request, session)
    tenant = field(fields, "tenant") or ""
    await asyncio.to_thread(delete_budget, gw, tenant, field(fields, "user"))
    return done(request, "admin/budgets", "deleted")
