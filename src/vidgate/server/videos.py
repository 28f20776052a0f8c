"""``/v1/videos``: OpenAI's Videos API, and vidgate's extensions on the same endpoints.

Everything the official ``openai`` SDK sends for videos works here: create (multipart or JSON),
retrieve, list (cursor pages), delete, and download (``/content?variant=video|thumbnail``).
vidgate adds fields to create, and ``/cancel``, ``/events`` (server-sent events), ``/estimate``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.datastructures import UploadFile

from ..catalog import violations
from ..exceptions import InvalidRequest, JobNotFound
from ..ssrf import check_url
from ..tenancy import Principal
from ..types import Job, VideoRequest
from .auth import principal
from .gateway import Gateway, gateway
from .schemas import parse_create, video_object

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["videos"])

_IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_VARIANTS = {"video": ("video/mp4", "output"), "thumbnail": ("image/jpeg", "thumbnail")}


async def _read_body(
    request: Request, gw: Gateway, tenant: str
) -> tuple[dict[str, Any], str | None]:
    """The create body's fields, and the path of an uploaded ``input_reference`` if any."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_part_size=gw.settings.max_body_bytes)
        fields: dict[str, Any] = {}
        upload: str | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != "input_reference":
                    raise InvalidRequest(f"unexpected file field {name!r}")
                upload = await _save_upload(value, gw, tenant)
            else:
                fields[name] = value
        return fields, upload
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise InvalidRequest("the body must be JSON or multipart/form-data") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    if isinstance(body.get("input_reference"), dict):
        # OpenAI's JSON form: {"input_reference": {"image_url": "https://…"}}
        reference = body.pop("input_reference")
        body.setdefault("image", reference.get("image_url") or reference.get("url"))
    return body, None


async def _save_upload(upload: UploadFile, gw: Gateway, tenant: str) -> str:
    suffix = _IMAGE_TYPES.get(upload.content_type or "")
    if suffix is None:
        raise InvalidRequest(
            f"input_reference must be a PNG, JPEG or WebP image, not {upload.content_type!r}"
        )
    folder = gw.settings.resolved_home / "uploads" / tenant
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(12)}{suffix}"
    with path.open("wb") as out:
        await asyncio.to_thread(shutil.copyfileobj, upload.file, out)
    return str(path)


def _guard_urls(request: VideoRequest, gw: Gateway) -> None:
    allow = gw.settings.ssrf_allow
    for label in ("image", "last_frame", "video", "webhook_url"):
        value = getattr(request, label)
        if value and (label == "webhook_url" or "://" in value):
            check_url(value, allow=allow, label=label)
        elif value and not value.startswith(str(gw.settings.resolved_home)):
            raise InvalidRequest(f"{label} must be an http(s) URL or an uploaded input_reference")


def _urls(gw: Gateway, request: Request, job: Job) -> dict[str, str]:
    if job.output is None:
        return {}
    base = gw.base_url(request)
    urls = {
        "video": gw.signed_url(base, job.id, "video"),
        "content": f"{base}/v1/videos/{job.id}/content",
    }
    if job.thumbnail is not None:
        urls["thumbnail"] = gw.signed_url(base, job.id, "thumbnail")
    return urls


def _video(gw: Gateway, request: Request, job: Job) -> dict[str, Any]:
    return video_object(job, _urls(gw, request, job))


async def _job(gw: Gateway, job_id: str, who: Principal) -> Job:
    return await asyncio.to_thread(gw.engine.runtime.store.get, job_id, tenant=who.tenant)


@router.post("/videos", summary="Create a video (OpenAI-compatible, with vidgate's fields)")
async def create(
    request: Request, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    fields, upload = await _read_body(request, gw, who.tenant)
    video_request = parse_create(
        fields,
        gw.engine.runtime.catalog,
        upload=upload,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    await asyncio.to_thread(_guard_urls, video_request, gw)
    job = await asyncio.to_thread(
        gw.engine.enqueue,
        video_request,
        tenant=who.tenant,
        guard=lambda conn: gw.tenants.guard_new_job(conn, who.tenant),
    )
    return JSONResponse(_video(gw, request, job))


@router.post("/videos/estimate", summary="Quote a request: the model that would serve it, and why")
async def estimate(
    request: Request, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    fields, _ = await _read_body(request, gw, who.tenant)
    video_request = parse_create(fields, gw.engine.runtime.catalog)
    # The same defaults as create: an unset duration may become a capable model's default.
    video_request, plan = await asyncio.to_thread(gw.engine.resolve, video_request)
    first = plan.first
    return {
        "object": "video.estimate",
        "model": first.ref,
        "duration": video_request.duration,
        "provider": first.model.provider,
        "quote": first.quote.model_dump(mode="json") if first.quote else None,
        "alternatives": [
            {"model": c.ref, "quote": c.quote.model_dump(mode="json") if c.quote else None}
            for c in plan.candidates[1:]
        ],
        "not_used": plan.skipped,
        "notice": plan.notice,
        "problems": violations(first.model, video_request),
    }


@router.get("/videos", summary="List videos, newest first (cursor pagination)")
async def list_videos(
    request: Request,
    after: str | None = None,
    limit: int = 20,
    order: str = "desc",
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'")
    jobs, has_more = await asyncio.to_thread(
        gw.engine.runtime.store.page, tenant=who.tenant, after=after, limit=limit, order=order
    )
    data = [_video(gw, request, job) for job in jobs]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


@router.get("/videos/{video_id}", summary="Retrieve a video")
async def retrieve(
    video_id: str,
    request: Request,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    return _video(gw, request, await _job(gw, video_id, who))


@router.delete("/videos/{video_id}", summary="Delete a video (cancelling it first if running)")
async def delete(
    video_id: str, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    job = await _job(gw, video_id, who)
    if not job.done:
        await gw.engine.cancel(job.id, tenant=who.tenant)
    store = gw.engine.runtime.store
    for asset in (job.output, job.thumbnail):
        if asset is not None:
            await asyncio.to_thread(gw.engine.runtime.storage.delete, asset.key)
    await asyncio.to_thread(store.mark_deleted, job.id)
    return {"id": job.id, "object": "video.deleted", "deleted": True}


@router.post("/videos/{video_id}/cancel", summary="Cancel a video")
async def cancel(
    video_id: str,
    request: Request,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    job = await gw.engine.cancel(video_id, tenant=who.tenant)
    return _video(gw, request, job)


def _file(gw: Gateway, job: Job, variant: str) -> tuple[Path, str, str]:
    if variant not in _VARIANTS:
        raise InvalidRequest(f"variant must be one of {sorted(_VARIANTS)}, not {variant!r}")
    content_type, attribute = _VARIANTS[variant]
    asset = getattr(job, attribute)
    if asset is None:
        raise JobNotFound(f"{job.id} has no {variant} yet (status {job.status.value})")
    path = gw.engine.runtime.storage.local_path(asset.key)
    if path is None or not path.is_file():
        raise JobNotFound(f"{job.id}'s {variant} is no longer stored")
    return path, f'"{asset.sha256}"', content_type


def _serve(request: Request, path: Path, etag: str, content_type: str, cache: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": cache}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=content_type, headers=headers)


@router.get("/videos/{video_id}/content", summary="Download the video or its thumbnail")
async def content(
    video_id: str,
    request: Request,
    variant: str = "video",
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> Response:
    job = await _job(gw, video_id, who)
    path, etag, content_type = _file(gw, job, variant)
    if gw.settings.content_redirect:
        return RedirectResponse(gw.signed_url(gw.base_url(request), job.id, variant), 302)
    return _serve(request, path, etag, content_type, "private, max-age=3600")


@router.get("/files/{video_id}/{variant}", summary="A signed, cacheable link to a video's file")
async def signed_file(
    video_id: str,
    variant: str,
    request: Request,
    expires: int = 0,
    sig: str = "",
    gw: Gateway = Depends(gateway),
) -> Response:
    if not gw.check_signature(video_id, variant, expires, sig):
        return JSONResponse(
            {"error": {"code": "forbidden", "message": "the link is invalid or has expired"}},
            status_code=403,
        )
    job = await asyncio.to_thread(gw.engine.runtime.store.get, video_id)
    path, etag, content_type = _file(gw, job, variant)
    import time

    ttl = max(int(expires - time.time()), 0)
    return _serve(request, path, etag, content_type, f"public, max-age={ttl}, immutable")


@router.get("/videos/{video_id}/events", summary="Server-sent events: every change, to the end")
async def events(
    video_id: str,
    request: Request,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> StreamingResponse:
    await _job(gw, video_id, who)  # 404 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        count = 0
        async for job in gw.engine.watch(video_id, interval=0.25):
            if await request.is_disconnected():
                return
            count += 1
            name = f"video.{job.status.value}" if job.done else "video.updated"
            body = json.dumps(_video(gw, request, job))
            yield f"id: {count}\nevent: {name}\ndata: {body}\n\n".encode()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
