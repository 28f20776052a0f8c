"""Operations and the rest of the API: health, metrics, the model matrix, admin endpoints and the
receivers for provider webhooks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..db import attempts, job_events, jobs
from ..exceptions import NotFound, ProviderAuthError, ProviderError
from ..providers.registry import provider_classes
from ..tenancy import Principal
from .auth import admin, principal
from .errors import errors
from .gateway import Gateway, gateway

__all__ = ["HttpMetrics", "router"]

router = APIRouter()
log = logging.getLogger("vidgate.webhooks")


class HttpMetrics:
    """Request counters and latencies, plus job figures read from the database at scrape time
    (so they are true across every worker and API process, not just this one)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vidgate_http_requests_total",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vidgate_http_request_seconds",
            "HTTP request latency by route.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.registry.register(_JobCollector(engine))


class _JobCollector:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "vidgate_jobs", "Jobs by status and provider.", labels=["status", "provider"]
        )
        spend = CounterMetricFamily(
            "vidgate_spend_usd",
            "Money spent on provider attempts, by provider.",
            labels=["provider"],
        )
        generation = GaugeMetricFamily(
            "vidgate_generation_seconds_avg",
            "Mean time from submit to the end of successful attempts, by provider.",
            labels=["provider"],
        )
        phases = GaugeMetricFamily(
            "vidgate_phase_seconds_avg",
            "Mean time jobs spent in each phase, by provider (the last 1000 finished jobs).",
            labels=["provider", "phase"],
        )
        success = GaugeMetricFamily(
            "vidgate_attempt_success_ratio",
            "Share of finished attempts that succeeded, by provider.",
            labels=["provider"],
        )
        with self.engine.connect() as conn:
            for status, provider, count in conn.execute(
                sa.select(jobs.c.status, jobs.c.provider, sa.func.count()).group_by(
                    jobs.c.status, jobs.c.provider
                )
            ):
                by_status.add_metric([status, provider or "none"], count)
            rows = conn.execute(
                sa.select(
                    attempts.c.provider,
                    attempts.c.status,
                    attempts.c.submitted_at,
                    attempts.c.finished_at,
                    attempts.c.cost_usd,
                )
            ).all()
        totals: dict[str, dict[str, float]] = {}
        for provider, status, submitted, finished, cost in rows:
            t = totals.setdefault(provider, {"spend": 0, "ok": 0, "done": 0, "secs": 0})
            t["spend"] += cost or 0
            if status in ("succeeded", "failed"):
                t["done"] += 1
            if status == "succeeded":
                t["ok"] += 1
                if submitted and finished:
                    t["secs"] += (finished - submitted).total_seconds()
        for provider, t in totals.items():
            spend.add_metric([provider], t["spend"])
            if t["ok"]:
                generation.add_metric([provider], t["secs"] / t["ok"])
            if t["done"]:
                success.add_metric([provider], t["ok"] / t["done"])
        for (provider, phase), seconds in self._phase_means().items():
            phases.add_metric([provider, phase], seconds)
        yield from (by_status, spend, generation, success, phases)

    def _phase_means(self) -> dict[tuple[str, str], float]:
        recent = (
            sa.select(jobs.c.id, jobs.c.provider)
            .where(jobs.c.completed_at.is_not(None))
            .order_by(jobs.c.completed_at.desc())
            .limit(1000)
            .subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    recent.c.provider, job_events.c.job_id, job_events.c.phase, job_events.c.at
                )
                .join(recent, recent.c.id == job_events.c.job_id)
                .order_by(job_events.c.job_id, job_events.c.id)
            ).all()
        spans: dict[tuple[str, str], list[float]] = {}
        previous: Any = None
        for provider, job_id, phase, at in rows:
            if previous is not None and previous[0] == job_id and previous[1] != phase:
                key = (provider or "none", previous[1])
                spans.setdefault(key, []).append((at - previous[2]).total_seconds())
            if previous is None or previous[0] != job_id or previous[1] != phase:
                previous = (job_id, phase, at)
        return {key: sum(v) / len(v) for key, v in spans.items()}


@router.get("/healthz", tags=["ops"], summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["ops"],
    summary="The database answers",
    responses={
        503: {
            "description": "The database does not answer",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
                    }
                }
            },
        }
    },
)
async def readyz(gw: Gateway = Depends(gateway)) -> JSONResponse:
    def ping() -> None:
        with gw.engine.runtime.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    try:
        await asyncio.to_thread(ping)
    except sa.exc.SQLAlchemyError as exc:
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse
)
async def metrics(request: Request) -> PlainTextResponse:
    registry = request.app.state.metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


@router.get(
    "/v1/models",
    tags=["models"],
    summary="The capability matrix, prices, lifecycle",
    responses=errors(401, 429),
)
async def models(
    _: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    today = date.today()
    adapters = provider_classes()
    data = []
    for model in gw.engine.runtime.catalog:
        adapter = adapters.get(model.provider)
        data.append(
            {
                "id": model.ref,
                "object": "model",
                "owned_by": model.provider,
                "title": model.title,
                "lifecycle": model.lifecycle.stage_on(today).value,
                "retires_on": model.lifecycle.retires_on.isoformat()
                if model.lifecycle.retires_on
                else None,
                "available": adapter is not None and adapter.configured(),
                "capabilities": {
                    "modes": [m.value for m in model.modes],
                    "durations": model.durations,
                    "duration_range": model.duration_range.model_dump()
                    if model.duration_range
                    else None,
                    "resolutions": model.resolutions,
                    "aspect_ratios": model.aspect_ratios,
                    "fps": model.fps,
                    "audio": model.audio,
                    "seed": model.seed,
                    "negative_prompt": model.negative_prompt,
                    "prompt_max_chars": model.prompt_max_chars,
                    "rules": [r.model_dump() for r in model.rules],
                },
                "price": model.price.model_dump(mode="json"),
            }
        )
    return {"object": "list", "data": data}


# -- admin ---------------------------------------------------------------------------------


@router.get(
    "/v1/admin/webhooks",
    tags=["admin"],
    summary="Client webhook deliveries",
    responses=errors(401, 403, 429),
)
async def webhook_log(
    job_id: str | None = None, _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    rows = await asyncio.to_thread(gw.dispatcher.deliveries, job_id)
    return {"object": "list", "data": [_jsonable(r) for r in rows]}


@router.post(
    "/v1/admin/webhooks/{message_id}/redeliver",
    tags=["admin"],
    summary="Send a delivery again",
    responses=errors(401, 403, 404, 413, 429),
)
async def redeliver(
    message_id: str, _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    if not await asyncio.to_thread(gw.dispatcher.redeliver, message_id):
        raise NotFound("no webhook delivery with that id")
    return {"id": message_id, "status": "pending"}


@router.get(
    "/v1/admin/providers",
    tags=["admin"],
    summary="Provider health (circuit breakers)",
    responses=errors(401, 403, 429),
)
async def provider_health(
    _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    health = await asyncio.to_thread(gw.engine.health)
    return {
        "object": "list",
        "data": [
            {
                "provider": h.provider,
                "state": h.state.value,
                "consecutive_failures": h.consecutive_failures,
                "detail": h.describe(),
            }
            for h in health
        ],
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


# -- provider webhooks ---------------------------------------------------------------------


@router.post("/webhooks/{provider}", tags=["webhooks"], include_in_schema=False)
@router.post(
    "/webhooks/{provider}/{token:path}",
    tags=["webhooks"],
    summary="Provider webhooks",
    responses=errors(401, 404, 413),
)
async def provider_webhook(
    provider: str, request: Request, token: str | None = None, gw: Gateway = Depends(gateway)
) -> JSONResponse:
    """Verify a provider's push and wake the attempt waiting for it (it polls at once)."""
    adapter_cls = provider_classes().get(provider)
    if adapter_cls is None:
        return JSONResponse({"error": {"code": "not_found", "message": "unknown provider"}}, 404)
    body = await request.body()
    adapter = gw.engine.runtime.provider(provider)
    try:
        # In a thread: verifying may fetch a key (a JWKS, a webhook secret) the first time.
        event = await asyncio.to_thread(
            adapter.parse_webhook, dict(request.headers), body, url_token=token
        )
    except ProviderAuthError as exc:
        log.warning("rejected a %s webhook from %s: %s", provider, request.client, exc.message)
        return JSONResponse({"error": {"code": exc.code, "message": "rejected"}}, 401)
    except ProviderError as exc:
        # Verified (or unverifiable by design) but not about a task we wait on: acknowledge it,
        # or the provider keeps retrying.
        log.info("ignored a %s webhook: %s", provider, exc.message)
        return JSONResponse({"status": "ignored"})
    found = await asyncio.to_thread(
        gw.engine.runtime.store.attempt_by_remote_id, provider, event.remote_id
    )
    if found is None:
        log.info("a %s webhook for unknown task %s was ignored", provider, event.remote_id)
        return JSONResponse({"status": "ignored"})
    job_id, attempt_id = found
    await asyncio.to_thread(
        gw.engine.notify, job_id, attempt_id, event.status.model_dump(mode="json")
    )
    return JSONResponse({"status": "accepted"})
