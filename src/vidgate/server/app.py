"""The gateway app: ``create_app(settings)`` → a FastAPI app running the engine in-process.

By default the process is API and worker in one (``vidgate serve``); ``worker=False`` makes an
API-only process that queues jobs for ``vidgate worker`` processes (PostgreSQL at scale).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..engine import Engine
from ..exceptions import LimitExceeded, MethodNotAllowed, NotFound, VidgateError
from ..settings import Settings
from ..webhooks import WebhookDispatcher
from . import (
    admin,
    admin_budgets,
    admin_keys,
    admin_quarantine,
    admin_safety,
    admin_tenants,
    dashboard,
    playback,
    provider_webhooks,
    spend,
    stats,
    templates,
)
from .errors import error_response, from_exception
from .gateway import Gateway
from .metrics import HttpMetrics
from .middleware import GatewayMiddleware
from .ops import router as ops_router
from .tenancy import TenantBook
from .videos import router as videos_router

__all__ = ["create_app"]

log = logging.getLogger("vidgate.server")


def create_app(settings: Settings | None = None, *, worker: bool = True) -> FastAPI:
    settings = settings or Settings()
    engine = Engine(settings, worker=worker)
    gw = Gateway(
        settings=settings,
        engine=engine,
        tenants=TenantBook(engine.database, key_cache_seconds=settings.key_cache_seconds),
        dispatcher=WebhookDispatcher(
            engine.database,
            retry_base=settings.webhook_retry_base,
            max_attempts=settings.webhook_max_attempts,
            ssrf_allow=settings.ssrf_allow,
        ),
        signing_key=settings.signing_key(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The worker engine also sends client webhooks; an API-only process sends none.
        if worker:
            await engine.start()
        try:  # presigned URLs read by players on other origins (VIDGATE_S3_CORS_ORIGINS)
            if await asyncio.to_thread(engine.ensure_storage_cors):
                log.info("set the bucket's CORS rule for players (VIDGATE_S3_CORS_ORIGINS)")
        except VidgateError as exc:  # serving goes on; the players that need it will not play
            log.warning("could not set the bucket's CORS rule: %s", exc)
        # Every gateway process queues the sweep of expired files; one process runs each
        # (engine/sweeping.py: one workflow per interval, one at a time).
        sweeper = asyncio.create_task(engine.retention_loop())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            # Graceful: in-flight jobs stay recorded in the database; this process is marked
            # stopped so a live worker (or this one, restarted) resumes them.
            await engine.close()

    app = FastAPI(
        title="vidgate",
        version=__version__,
        summary="One API over AI video-generation providers; OpenAI-compatible /v1/videos.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    app.state.metrics = HttpMetrics(engine)

    app.add_middleware(
        GatewayMiddleware, max_body_bytes=settings.max_body_bytes, metrics=app.state.metrics
    )

    @app.exception_handler(VidgateError)
    async def vidgate_error(_: Request, exc: VidgateError) -> JSONResponse:
        response = from_exception(exc)
        if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return error_response(400, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own answers (no such route, wrong method) in the same error body."""
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            return from_exception(NotFound("no such endpoint; see /docs for the API"))
        if exc.status_code == 405:
            allowed = headers.get("Allow") or headers.get("allow") or ""
            response = from_exception(
                MethodNotAllowed(f"this endpoint does not take {request.method}; use {allowed}")
            )
            response.headers.update(headers)
            return response
        code = "invalid_request" if exc.status_code == 400 else "http_error"
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.include_router(videos_router)
    app.include_router(playback.router)
    app.include_router(templates.router)
    app.include_router(ops_router)
    app.include_router(admin.router)
    app.include_router(admin_tenants.router)
    app.include_router(admin_keys.router)
    app.include_router(admin_budgets.router)
    app.include_router(admin_quarantine.router)
    app.include_router(admin_safety.router)
    app.include_router(spend.router)
    app.include_router(stats.router)
    app.include_router(provider_webhooks.router)
    if settings.dashboard:
        dashboard.install(app, gw)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, corrected: bad input is a 400 with the error body (the app maps
    validation errors so), never the 422 FastAPI promises by default."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
    )
    for name, path in document.get("paths", {}).items():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "401" in responses and name.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = {
                    "description": "Bad input (invalid_request)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    },
                }
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "an API key, vg_…"}
    }
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = document
    return document
