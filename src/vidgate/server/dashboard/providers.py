"""The Providers page: per provider and model over the last hour, day or week, the success
rate, generation time (p50/p95), error codes by count and cost per output second
(``GET /v1/stats/providers``); each provider's circuit, its account balance where its API
tells it (admins), and the catalogue's lifecycle notices (deprecations, retirements)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..._clock import utcnow
from ...catalog import Catalog
from ...catalog.schema import LifecycleStage
from ...insights.windows import STATS_WINDOWS
from ..gateway import Gateway, gateway
from .sessions import Session
from .web import PageRoute, page, viewer

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True)
class Notice:
    model: str
    stage: str
    deprecated_on: date | None
    retires_on: date | None
    replacement: str | None
    note: str | None


def lifecycle_notices(catalog: Catalog, today: date) -> list[Notice]:
    """Models deprecated, retired, or with a retirement date set, soonest first."""
    found = []
    for model in catalog:
        life = model.lifecycle
        stage = life.stage_on(today)
        if stage in (LifecycleStage.DEPRECATED, LifecycleStage.RETIRED) or life.retires_on:
            found.append(
                Notice(
                    model.ref,
                    stage.value,
                    life.deprecated_on,
                    life.retires_on,
                    life.replacement,
                    life.note,
                )
            )
    return sorted(found, key=lambda n: (n.retires_on or date.max, n.model))


@router.get("/providers")
async def providers_page(
    request: Request,
    window: str = "day",
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    who = session.principal
    tenant = None if who.admin else who.tenant
    stats = await asyncio.to_thread(gw.engine.provider_stats, window, tenant=tenant)
    health = await asyncio.to_thread(gw.engine.health)
    balances = await asyncio.to_thread(gw.engine.balances) if who.admin else {}
    return page(
        request,
        "providers.html",
        session,
        title="Providers",
        stats=stats,
        rows={row.provider: row for row in stats.providers},
        names=sorted({row.provider for row in stats.providers} | {h.provider for h in health}),
        health={h.provider: h for h in health},
        balances=balances,
        notices=lifecycle_notices(gw.engine.catalog, utcnow().date()),
        window=window,
        windows=STATS_WINDOWS,
        tenant=tenant,
    )
