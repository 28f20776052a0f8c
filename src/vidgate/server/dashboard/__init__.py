"""The web dashboard (issue 14): server-rendered pages over the same engine calls as the API.

``install(app, gateway)`` mounts it under ``VIDGATE_DASHBOARD_PATH`` (``/`` by default). A
browser signs in with an API key and then holds a session cookie (``sessions.py``); a
tenant's key sees its tenant, an admin key every tenant and the admin pages. Each page is a
module here with its own router; ``web.py`` holds what they share (templates, the viewer,
cookies, CSRF); ``static/`` the one stylesheet and the one script (no build step).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse

from ...exceptions import NotFound
from ..gateway import Gateway
from . import (
    admin,
    admin_budgets,
    admin_keys,
    admin_quarantine,
    admin_webhooks,
    create,
    jobs,
    providers,
    signin,
    spend,
)
from .sessions import SessionBook
from .web import SignInRequired, dashboard_path

__all__ = ["install"]

_STATIC = Path(__file__).parent / "static"
_ASSETS = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
}


def install(app: FastAPI, gw: Gateway) -> None:
    settings = gw.settings
    app.state.dashboard_sessions = SessionBook(
        gw.engine.database, ttl=settings.dashboard_session_ttl
    )
    prefix = settings.dashboard_path.rstrip("/")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> RedirectResponse:
        target = dashboard_path(request, "login")
        return RedirectResponse(f"{target}?{_next(exc.target)}", status_code=303)

    async def home(request: Request) -> RedirectResponse:
        return RedirectResponse(dashboard_path(request, "jobs"), status_code=303)

    async def static(name: str) -> FileResponse:
        kind = _ASSETS.get(name)
        if kind is None:
            raise NotFound("no such file")
        return FileResponse(_STATIC / name, media_type=kind, headers={"Cache-Control": "no-cache"})

    app.add_api_route(prefix or "/", home, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{prefix}/static/{{name}}", static, methods=["GET"], include_in_schema=False)
    pages = (signin, jobs, create, spend, providers)
    admin_pages = (admin, admin_keys, admin_budgets, admin_quarantine, admin_webhooks)
    for module in (*pages, *admin_pages):
        app.include_router(module.router, prefix=prefix, include_in_schema=False)


def _next(target: str) -> str:
    return urlencode({"next": target})
