"""``/v1/admin/quarantine``: outputs the content scan blocked (admin keys only).

``GET`` lists them (``?status=held|released|deleted|all``, ``tenant``, ``job_id``, ``limit``),
``GET /{id}`` shows one, ``POST /{id}/release`` makes it servable (moved back to the job's
video), ``DELETE /{id}`` removes its files. Each action is audited with the admin key's id.

A release answers **202** at once with the item ``released`` and ``"delivery": "in_progress"``:
the release is recorded with its durable workflow (``engine/release.py``), which a worker runs
(the files moved, the delivery set built, the job completed, ``video.completed`` sent).
``GET /{id}`` then shows ``delivery`` ``completed`` (or ``failed``); the job's own status turns
``completed`` when its video is served.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from ..engine.quarantine import QuarantineDesk
from ..safety.quarantine import QuarantineItem
from .auth import admin
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["acted_by", "router"]

router = APIRouter(prefix="/v1/admin/quarantine", tags=["admin"])


def _item(item: QuarantineItem) -> dict[str, Any]:
    return {"object": "quarantine_item", **item.model_dump(mode="json")}


def acted_by(who: Principal) -> str:
    """How the audit names the admin who acted (the dashboard's too): the key's id."""
    return f"key {who.key_id}"


@router.get("", summary="Quarantined outputs", responses=errors(400, 401, 403, 429))
async def list_quarantine(
    status: Literal["held", "released", "deleted", "all"] = "held",
    tenant: str | None = Query(default=None, max_length=128),
    job_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    found = await gw.engine.quarantine.list(
        status=None if status == "all" else status, tenant=tenant, job_id=job_id, limit=limit
    )
    return {"object": "list", "data": [_item(i) for i in found]}


@router.get(
    "/{item_id}", summary="One quarantined output", responses=errors(400, 401, 403, 404, 429)
)
async def show_quarantine(
    item_id: str, _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    desk = gw.engine.quarantine
    item = await desk.get(item_id)
    return {**_item(item), "delivery": await _delivery(gw, desk, item)}


@router.post(
    "/{item_id}/release",
    summary="Release a quarantined output: recorded now, delivered by a durable workflow",
    status_code=202,
    responses=errors(400, 401, 403, 404, 409, 429),
)
async def release_quarantine(
    item_id: str, who: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    desk = gw.engine.quarantine
    item = await desk.release(item_id, by=acted_by(who))
    return {**_item(item), "delivery": await _delivery(gw, desk, item)}


async def _delivery(gw: Gateway, desk: QuarantineDesk, item: QuarantineItem) -> str | None:
    """Where a released item's delivery is: ``in_progress`` (queued or running), ``completed``
    (the video is served), ``failed``; None for an item never released."""
    if item.status != "released":
        return None
    state = await gw.read(desk.release_state, item.job_id)
    if state is None:  # released before releases were workflows: delivered in the request
        return "completed"
    return {"SUCCESS": "completed", "ERROR": "failed"}.get(state, "in_progress")


@router.delete(
    "/{item_id}",
    summary="Delete a quarantined output's files",
    responses=errors(400, 401, 403, 404, 409, 429),
)
async def delete_quarantine(
    item_id: str, who: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    return _item(await gw.engine.quarantine.delete(item_id, by=acted_by(who)))
