"""Operations: liveness, readiness, metrics, and the model matrix (``/v1/models``)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import generate_latest

from ..providers.registry import provider_classes
from .auth import principal
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["router"]

router = APIRouter()


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
    reason = await asyncio.to_thread(gw.engine.unready)
    if reason is not None:
        return JSONResponse({"status": "unavailable", "reason": reason}, 503)
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
    for model in gw.engine.catalog:
        adapter = adapters.get(model.provider)
        data.append(
            {
                "id": model.ref,
                "object": "model",
                "owned_by": model.provider,
                "title": model.title,
                "lifecycle": model.lifecycle.stage_on(today).value,
                "tier": model.tier,
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
