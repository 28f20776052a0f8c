"""The gateway app: ``create_app(settings)`` → a FastAPI app running the engine in-process.

By default the process is API and worker in one (``vidgate serve``); ``worker=False`` makes an
API-only process that queues jobs for ``vidgate worker`` processes (PostgreSQL at scale).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from .. import __version__
from ..engine import Engine
from ..exceptions import LimitExceeded, VidgateError
from ..settings import Settings
from ..tenancy import TenantBook
from ..webhooks import WebhookDispatcher
from .gateway import Gateway
from .ops import HttpMetrics
from .ops import router as ops_router
from .videos import router as videos_router

__all__ = ["create_app"]

access_log = logging.getLogger("vidgate.access")


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "type": code, "param": None, **extra}}
    return JSONResponse(body, status_code=status)


def create_app(settings: Settings | None = None, *, worker: bool = True) -> FastAPI:
    settings = settings or Settings()
    engine = Engine(settings, worker=worker)
    store_engine = engine.runtime.store.engine
    gw = Gateway(
        settings=settings,
        engine=engine,
        tenants=TenantBook(store_engine),
        dispatcher=WebhookDispatcher(
            store_engine,
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
        try:
            yield
        finally:
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
    app.state.metrics = HttpMetrics(store_engine)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            response: Response = _error(
                413, "request_too_large", f"the body is larger than {settings.max_body_bytes} bytes"
            )
        else:
            response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics: HttpMetrics = app.state.metrics
        metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        metrics.latency.labels(path, request.method).observe(elapsed)
        who = getattr(request.state, "principal", None)
        access_log.info(
            json.dumps(
                {
                    "route": path,
                    "method": request.method,
                    "status": response.status_code,
                    "latency_ms": round(elapsed * 1000, 2),
                    "tenant": who.tenant if who else None,
                    "key_id": who.key_id if who else None,
                }
            )
        )
        return response

    @app.exception_handler(VidgateError)
    async def vidgate_error(_: Request, exc: VidgateError) -> JSONResponse:
        response = _error(exc.http_status, exc.code, exc.message, details=exc.details)
        if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return _error(400, "invalid_request", problems)

    app.include_router(videos_router)
    app.include_router(ops_router)
    return app
