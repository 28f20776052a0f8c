"""What every dashboard page shares: the templates, the signed-in viewer, cookies, CSRF.

- Pages are Jinja2 templates with autoescaping on; no API key is ever rendered, and no page
  holds an inline script (the Content-Security-Policy allows scripts from this origin only).
- The session cookie is HttpOnly, SameSite=Lax, Secure on HTTPS, scoped to the dashboard's path.
- Every form that changes something carries the session's CSRF token (a hidden ``csrf`` field,
  or the ``X-CSRF-Token`` header from the page's script); a POST without it is refused. The
  sign-in form, which has no session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..._clock import as_utc, utcnow
from ...exceptions import PermissionDenied, VidgateError
from ..gateway import Gateway
from .sessions import Session, SessionBook

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "PageRoute",
    "SignInRequired",
    "check_csrf",
    "dashboard_path",
    "page",
    "sessions",
    "viewer",
]

SESSION_COOKIE = "vidgate_session"
LOGIN_CSRF_COOKIE = "vidgate_signin"

_HERE = Path(__file__).parent
_ENV = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Scripts and styles from this origin only; media and fetches may also go to storage
#: (presigned S3 URLs a signed link redirects to).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data: blob: https: http:; "
    "media-src 'self' blob: https: http:; connect-src 'self' https: http:; "
    "worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SignInRequired(Exception):
    """A page asked for without a live session: the app answers with a redirect to sign in."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class PageRoute(APIRoute):
    """A dashboard route: an error becomes a page a person can read (with the error's status
    and message, which never hold a secret), not the API's JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except VidgateError as exc:
                return error_page(request, exc.http_status, exc.code, str(exc))
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:]) or 'form'}: {e['msg']}"
                    for e in exc.errors()
                )
                return error_page(request, 400, "invalid_request", problems)

        return page_handler


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    session = getattr(request.state, "dashboard_session", None)
    return page(
        request, "error.html", session, status=status, title="Error", code=code, message=message
    )


def dashboard_path(request: Request, path: str = "") -> str:
    """An absolute path under the dashboard (its configured path behind any ASGI root path)."""
    gw: Gateway = request.app.state.gateway
    root = request.scope.get("root_path", "").rstrip("/")
    base = gw.settings.dashboard_path.rstrip("/")
    return f"{root}{base}/{path.lstrip('/')}"


def api_root(request: Request) -> str:
    """Where the API is, for the page's links (the same origin, behind any ASGI root path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def sessions(request: Request) -> SessionBook:
    book: SessionBook = request.app.state.dashboard_sessions
    return book


async def viewer(request: Request) -> Session:
    """The signed-in session, else a redirect to the sign-in page (back here afterwards)."""
    gw: Gateway = request.app.state.gateway
    found = await gw.read(sessions(request).find, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise SignInRequired(_return_to(request))
    request.state.principal = found.principal  # for the access log
    request.state.dashboard_session = found  # for an error page's header
    return found


def _return_to(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a path under the dashboard only (never another site)."""
    home = dashboard_path(request)
    if not target or not target.startswith(home) or target.startswith("//") or "\\" in target:
        return dashboard_path(request, "jobs")
    return target


def check_csrf(request: Request, session: Session, token: str | None) -> None:
    """Refuse a state-changing request that lacks the session's token or comes from elsewhere."""
    presented = token or request.headers.get("x-csrf-token") or ""
    if not presented.isascii() or not hmac.compare_digest(presented, session.csrf):
        raise PermissionDenied("the form is stale or forged (CSRF token missing or wrong)")
    _same_origin(request)


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return  # older browsers send none; the token has been checked
    gw: Gateway = request.app.state.gateway
    allowed = {_origin_of(str(request.base_url))}
    if gw.settings.public_url:
        allowed.add(_origin_of(gw.settings.public_url))
    if origin.rstrip("/") not in allowed:
        raise PermissionDenied("the form was posted from another site")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def secure_cookies(request: Request) -> bool:
    gw: Gateway = request.app.state.gateway
    if gw.settings.dashboard_secure_cookie is not None:
        return gw.settings.dashboard_secure_cookie
    return (gw.settings.public_url or "").startswith("https://")


def set_cookie(
    request: Request, response: HTMLResponse | RedirectResponse, name: str, value: str, age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=dashboard_path(request),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def page(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    """A rendered page with the headers every page carries."""
    html = _ENV.get_template(template).render(
        request=request,
        session=session,
        title=title,
        home=dashboard_path(request),
        api=api_root(request),
        path=lambda p="": dashboard_path(request, p),
        current=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _ago(value: datetime | None) -> str:
    """A short age for tables: 12s, 5m, 3h, 2d."""
    if value is None:
        return ""
    seconds = max(0.0, (utcnow() - (as_utc(value) or utcnow())).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _usd(value: float | None) -> str:
    """Dollars: cents at least, and up to four decimals for the small prices per second."""
    if value is None:
        return "—"
    if value >= 1 or value == 0:
        return f"${value:,.2f}"
    text = f"{value:.4f}".rstrip("0")
    return "$" + (text + "0" if len(text.split(".")[1]) < 2 else text)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    stamp = as_utc(value)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else ""


_ENV.filters["ago"] = _ago
_ENV.filters["usd"] = _usd
_ENV.filters["when"] = _when
