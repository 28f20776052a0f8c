"""The Jobs pages: the live list (filters, search, server-sent events) and a job's page (the
player, the attempts as a timeline, provider calls, scan, prompts sent, cost; cancel, retry,
download)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from ...engine.jobsearch import JobFilter
from ...exceptions import InvalidRequest
from ...types import Job, JobStatus
from ..gateway import Gateway, gateway
from ..videos import admit_request
from .jobview import job_view
from .sessions import Session
from .web import (
    SESSION_COOKIE,
    PageRoute,
    api_root,
    check_csrf,
    dashboard_path,
    page,
    sessions,
    viewer,
)

__all__ = ["router"]

router = APIRouter(route_class=PageRoute)

_PAGE_SIZE = 50
_HEARTBEAT = 15.0


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidRequest(f"{name} is a date like 2026-12-01") from None
    return datetime.combine(day, time(), tzinfo=UTC)


def _filters(request: Request, session: Session) -> tuple[JobFilter, dict[str, str]]:
    """The list's filter from the query string, within what the viewer may see."""
    q = request.query_params
    raw = {
        k: q.get(k, "").strip()
        for k in ("status", "provider", "user", "since", "until", "q", "tenant")
    }
    status = raw["status"] or None
    if status is not None and status not in {s.value for s in JobStatus}:
        raise InvalidRequest(f"no status {status!r}")
    until = _day(raw["until"], "until")
    tenant: str | None = session.principal.tenant
    if session.principal.admin:
        tenant = raw["tenant"] or None  # an admin sees every tenant unless one is chosen
    else:
        raw["tenant"] = ""
    where = JobFilter(
        tenant=tenant,
        status=JobStatus(status) if status else None,
        provider=raw["provider"] or None,
        user=raw["user"] or None,
        since=_day(raw["since"], "since"),
        until=until + timedelta(days=1) if until else None,  # the whole day named
        text=raw["q"] or None,
    )
    return where, {k: v for k, v in raw.items() if v}


@router.get("/jobs")
async def job_list(
    request: Request,
    after: str | None = None,
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    where, chosen = _filters(request, session)
    found, more = await asyncio.to_thread(gw.engine.search, where, after=after, limit=_PAGE_SIZE)
    query = urlencode(chosen)
    return page(
        request,
        "jobs.html",
        session,
        title="Jobs",
        jobs=found,
        more=more,
        chosen=chosen,
        query=query,
        statuses=[s.value for s in JobStatus],
        providers=sorted(gw.engine.catalog.providers),
        next_page=(f"?{urlencode({**chosen, 'after': found[-1].id})}" if more else None),
        live=after is None,
    )


@router.get("/jobs/rows")
async def job_rows(
    request: Request, session: Session = Depends(viewer), gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    """The list's rows alone, for the live list to swap in."""
    where, _ = _filters(request, session)
    found, _more = await asyncio.to_thread(gw.engine.search, where, limit=_PAGE_SIZE)
    return page(request, "job_rows.html", session, jobs=found)


@router.get("/jobs/events")
async def job_list_events(
    request: Request, session: Session = Depends(viewer), gw: Gateway = Depends(gateway)
) -> StreamingResponse:
    """Server-sent events: ``changed`` whenever a job in the list's filter changes (or one
    appears or goes), checked every ``VIDGATE_DASHBOARD_REFRESH`` seconds; the page then
    fetches the rows again. The stream ends when the session does."""
    where, _ = _filters(request, session)

    async def stream() -> AsyncIterator[bytes]:
        last = await gw.read(gw.engine.last_change, where)
        yield b"retry: 3000\n\n"
        quiet = 0.0
        interval = gw.settings.dashboard_refresh
        while not await request.is_disconnected():
            await asyncio.sleep(interval)
            now = await gw.read(gw.engine.last_change, where)
            if now != last:
                last = now
                quiet = 0.0
                yield b"event: changed\ndata: {}\n\n"
            else:
                quiet += interval
                if quiet >= _HEARTBEAT:
                    quiet = 0.0
                    if await _session_ended(request, gw):
                        yield b"event: signed-out\ndata: {}\n\n"
                        return
                    yield b": still here\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers=_SSE)


_SSE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def _session_ended(request: Request, gw: Gateway) -> bool:
    return await gw.read(sessions(request).find, request.cookies.get(SESSION_COOKIE)) is None


async def _job(gw: Gateway, session: Session, job_id: str) -> Job:
    """The job if the viewer may see it (another tenant's: not found, as in the API)."""
    tenant = None if session.principal.admin else session.principal.tenant
    return await gw.read(gw.engine.get, job_id, tenant=tenant)


@router.get("/jobs/{job_id}")
async def job_page(
    job_id: str,
    request: Request,
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    job = await _job(gw, session, job_id)
    view = await asyncio.to_thread(job_view, gw, api_root(request), job)
    return page(request, "job.html", session, title=f"Job {job.id}", job=job, v=view)


@router.get("/jobs/{job_id}/panel")
async def job_panel(
    job_id: str,
    request: Request,
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> HTMLResponse:
    """The job page's changing part (status, progress, timeline, calls), for live updates."""
    job = await _job(gw, session, job_id)
    view = await asyncio.to_thread(job_view, gw, api_root(request), job)
    return page(request, "job_panel.html", session, job=job, v=view)


@router.get("/jobs/{job_id}/events")
async def job_events(
    job_id: str,
    request: Request,
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> StreamingResponse:
    """Server-sent events for one job: ``changed`` on each change of status, phase or
    progress; ``done`` when it ends."""
    job = await _job(gw, session, job_id)

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 3000\n\n"
        if job.done:
            yield b"event: done\ndata: {}\n\n"
            return
        interval = gw.settings.dashboard_refresh
        async for seen in gw.engine.watch(job.id, interval=interval):
            if await request.is_disconnected():
                return
            data = json.dumps({"status": seen.status.value, "progress": seen.progress})
            kind = "done" if seen.done else "changed"
            yield f"event: {kind}\ndata: {data}\n\n".encode()

    return StreamingResponse(stream(), media_type="text/event-stream", headers=_SSE)


@router.post("/jobs/{job_id}/cancel")
async def cancel(
    job_id: str,
    request: Request,
    csrf: str = Form(default="", max_length=128),
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> RedirectResponse:
    check_csrf(request, session, csrf)
    job = await _job(gw, session, job_id)
    await gw.engine.cancel(job.id, tenant=job.tenant)
    return RedirectResponse(dashboard_path(request, f"jobs/{job.id}"), status_code=303)


@router.post("/jobs/{job_id}/retry")
async def retry(
    job_id: str,
    request: Request,
    csrf: str = Form(default="", max_length=128),
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> RedirectResponse:
    """A new job with the same request (its own id, no idempotency key), in the job's tenant,
    through the same admission as a create: limits, budgets, moderation."""
    check_csrf(request, session, csrf)
    job = await _job(gw, session, job_id)
    again = job.request.model_copy(update={"idempotency_key": None})
    new = await admit_request(gw, job.tenant, again)
    return RedirectResponse(dashboard_path(request, f"jobs/{new.id}"), status_code=303)


@router.get("/jobs/{job_id}/download")
async def download(
    job_id: str,
    request: Request,
    variant: str = "video",
    session: Session = Depends(viewer),
    gw: Gateway = Depends(gateway),
) -> Response:
    """A redirect to the variant's signed link (the link the API hands out)."""
    job = await _job(gw, session, job_id)
    kinds = {a.kind for a in job.assets if a.deleted_at is None}
    if variant not in kinds or not job.done:
        raise InvalidRequest(f"this job has no {variant!r} to download")
    return RedirectResponse(gw.signed_url(api_root(request), job.id, variant), status_code=303)
