"""The Spend page: spend over time by provider, model, user or template (a stacked bar chart
and its table), the month to date and its projection, budgets with their burn-down, and the
dearest users and templates. The numbers are the ones ``GET /v1/spend/series`` and
``GET /v1/admin/budgets`` answer with (``vidgate.insights``, ``accounting.budgets``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ...accounting.budgets import Budget, BudgetBook
from ...insights.spend import SERIES_BY as BY
from ...insights.windows import SERIES_WINDOWS
from ..gateway import Gateway, gateway
from .charts import stacked_bars
from .sessions import Session
from .web import PageRoute, page, viewer

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)


def _budgets(gw: Gateway, tenant: str | None) -> list[Budget]:
    return [b for b in BudgetBook(gw.engine.database).list(tenant) if b.limited]


@router.get("/spend")
async def spend_page(
    request: Request,
    window: str = "week",
    by: str = "provider",
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    who = session.principal
    tenant = None if who.admin else who.tenant
    if who.admin and request.query_params.get("tenant"):
        tenant = request.query_params["tenant"]
    series = await asyncio.to_thread(
        gw.engine.spend_series, by=by, window=window, tenant=tenant, top=6
    )
    budgets = await asyncio.to_thread(_budgets, gw, tenant)
    chart = stacked_bars(
        series.window.buckets,
        [(s.key, s.usd) for s in series.series],
        hourly=series.window.bucket == "hour",
    )
    return page(
        request,
        "spend.html",
        session,
        title="Spend",
        s=series,
        chart=chart,
        budgets=budgets,
        window=window,
        by=by,
        windows=SERIES_WINDOWS,
        groups=BY,
        tenant=tenant,
    )
