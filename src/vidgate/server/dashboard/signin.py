"""Signing in and out: an API key typed into a form becomes a session cookie."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...exceptions import AuthenticationFailed, PermissionDenied
from ..gateway import Gateway, gateway
from .sessions import Session
from .web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    PageRoute,
    check_csrf,
    dashboard_path,
    new_login_token,
    page,
    safe_next,
    sessions,
    set_cookie,
    viewer,
)

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _form(request, next)


def _form(request: Request, target: str | None, problem: str | None = None) -> HTMLResponse:
    token = new_login_token()
    response = page(
        request,
        "login.html",
        None,
        title="Sign in",
        token=token,
        next=safe_next(request, target),
        problem=problem,
        status=401 if problem else 200,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@router.post("/login")
async def login(
    request: Request,
    key: str = Form(default="", max_length=512),
    csrf: str = Form(default="", max_length=128),
    next: str = Form(default="", max_length=2048),
    gw: Gateway = Depends(gateway),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (expected and csrf.isascii() and hmac.compare_digest(csrf, expected)):
        raise PermissionDenied("the sign-in form is stale or forged; reload the page")
    try:
        who = await asyncio.to_thread(gw.tenants.verify, key.strip())
    except AuthenticationFailed:
        return _form(request, next, "That key was not accepted (unknown or revoked).")
    token = await asyncio.to_thread(sessions(request).start, who.key_id)
    response = RedirectResponse(safe_next(request, next), status_code=303)
    ttl = int(gw.settings.dashboard_session_ttl)
    set_cookie(request, response, SESSION_COOKIE, token, ttl)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=dashboard_path(request))
    return response


@router.post("/logout")
async def logout(
    request: Request,
    csrf: str = Form(default="", max_length=128),
    session: Session = Depends(viewer),
) -> RedirectResponse:
    check_csrf(request, session, csrf)
    await asyncio.to_thread(sessions(request).end, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(dashboard_path(request, "login"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=dashboard_path(request))
    return response
