"""Admin: Quarantine: the outputs the content scan blocked. The list (held by default), a
review page (the verdict, categories, scores, the frames that triggered it, the held
thumbnail, the job), and release or delete, each confirmed first — through the engine's
``QuarantineDesk``, as ``/v1/admin/quarantine`` does."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...exceptions import InvalidRequest, NotFound, VidgateError
from ...safety.quarantine import Status
from ..admin_quarantine import acted_by
from ..gateway import Gateway, gateway
from .admin import admin_session, done, form_data
from .sessions import Session
from .web import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)

_STATUSES: dict[str, Status | None] = {
    "held": "held",
    "released": "released",
    "deleted": "deleted",
    "all": None,
}
_THUMBNAIL_BYTES = 4 * 1024 * 1024


@router.get("/admin/quarantine")
async def held_list(
    request: Request,
    status: str = "held",
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    if status not in _STATUSES:
        raise InvalidRequest(f"status is one of {', '.join(_STATUSES)}")
    found = await gw.engine.quarantine.list(status=_STATUSES[status], limit=200)
    return page(
        request,
        "admin_quarantine.html",
        session,
        title="Quarantine",
        held_items=found,
        which=status,
        statuses=list(_STATUSES),
        note=request.query_params.get("done"),
    )


@router.get("/admin/quarantine/{item_id}")
async def review(
    item_id: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    item = await gw.engine.quarantine.get(item_id)
    try:
        job = await gw.read(gw.engine.get, item.job_id)
    except VidgateError:
        job = None  # the job was deleted since: the item stays reviewable
    scores = sorted(item.scan.scores.items(), key=lambda kv: -kv[1])
    return page(
        request,
        "admin_quarantine_item.html",
        session,
        title=f"Quarantined output {item.id}",
        item=item,
        job=job,
        scores=scores,
        note=request.query_params.get("done"),
    )


@router.get("/admin/quarantine/{item_id}/thumbnail")
async def held_thumbnail(
    item_id: str, session: Session = Depends(admin_session), gw: Gateway = Depends(gateway)
) -> Response:
    """The held thumbnail, for the reviewing admin only (never cached, never public)."""
    item = await gw.engine.quarantine.get(item_id)
    key = item.thumbnail_key
    if item.status != "held" or key is None or not key.startswith("quarantine/"):
        raise NotFound("this output has no held thumbnail")

    def read() -> bytes:
        stored = gw.engine.stored_object(key, "image/jpeg")
        if stored is None:
            raise NotFound("the held thumbnail is gone")
        data = bytearray()
        for chunk in stored.open_range(0, _THUMBNAIL_BYTES - 1):
            data.extend(chunk)
        return bytes(data)

    body = await asyncio.to_thread(read)
    return Response(
        body,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/admin/quarantine/{item_id}/release")
async def release(
    item_id: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> RedirectResponse:
    await form_data(request, session)
    await gw.engine.quarantine.release(item_id, by=acted_by(session.principal))
    return done(request, f"admin/quarantine/{item_id}", "released")


@router.post("/admin/quarantine/{item_id}/delete")
async def delete(
    item_id: str,
    request: Request,
    session: Session = Depends(admin_session),
    gw: Gateway = Depends(gateway),
) -> RedirectResponse:
    await form_data(request, session)
    await gw.engine.quarantine.delete(item_id, by=acted_by(session.principal))
    return done(request, f"admin/quarantine/{item_id}", "deleted")
