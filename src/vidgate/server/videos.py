"""``/v1/videos``: OpenAI's Videos API, and vidgate's extensions on the same endpoints.

Everything the official ``openai`` SDK sends for videos works here: create (multipart or JSON),
retrieve, list (cursor pages), delete, and download (``/content?variant=video|thumbnail``).
vidgate adds fields to create, and ``/cancel``, ``/events`` (server-sent events), ``/estimate``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from ..accounting.estimates import estimate_models, project
from ..catalog import violations
from ..engine.files import StoredFile
from ..engine.jobsearch import JobFilter
from ..exceptions import (
    ContentNotReady,
    InvalidRequest,
    NotFound,
    VariantNotAvailable,
)
from ..ranking import summary
from ..routing import RoutePlan
from ..safety.quarantine import refuse_if_held
from ..types import Asset, Job, JobStatus, VideoRequest
from .auth import principal
from .delivery_responses import IMMUTABLE, PRIVATE, cors_headers, file_response, preflight
from .errors import errors
from .gateway import Gateway, gateway
from .hls import hls_response, player_urls
from .inputs import guard_inputs, image_suffix, uploads_folder
from .schemas import CREATE_BODY, parse_create, video_object
from .tenancy import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["videos"])

_IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
#: OpenAI's variant names that are not an asset kind of their own.
_ALIASES = {"spritesheet": "sprite"}
#: A variant name as a request may spell it (anything else is refused before any lookup).
_VARIANT_NAME = re.compile(r"[a-z0-9_]{1,24}")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file (video/mp4, or image/jpeg for the thumbnail)",
        "content": {"video/mp4": _BINARY, "image/jpeg": _BINARY},
    },
    206: {"description": "Part of the file (Range)", "content": {"video/mp4": _BINARY}},
    304: {"description": "Not modified (If-None-Match)"},
    416: {"description": "Range not satisfiable (Content-Range: bytes */size)"},
}
_REDIRECT = {
    "description": "A redirect to the signed link (VIDGATE_CONTENT_REDIRECT), or to the "
    "presigned storage URL (VIDGATE_CONTENT_DELIVERY=redirect)"
}


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
                upload = await save_upload(value, gw, tenant)
            else:
                fields[name] = value
        return fields, upload
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        raise InvalidRequest("the body must be UTF-8 JSON or multipart/form-data") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    if isinstance(body.get("input_reference"), dict):
        # OpenAI's JSON form: {"input_reference": {"image_url": "https://…"}}
        reference = body.pop("input_reference")
        body.setdefault("image", reference.get("image_url") or reference.get("url"))
    return body, None


async def save_upload(upload: UploadFile, gw: Gateway, tenant: str) -> str:
    """Keep an uploaded image in the tenant's own uploads folder (the only local files a
    gateway request may name: see ``inputs``), if its content is a PNG, JPEG or WebP."""
    declared = _IMAGE_TYPES.get(upload.content_type or "")
    suffix = image_suffix(await upload.read(64)) if declared else None
    if suffix is None:
        raise InvalidRequest("input_reference must be a PNG, JPEG or WebP image")
    await upload.seek(0)
    folder = uploads_folder(gw.settings, tenant)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(12)}{suffix}"
    with path.open("wb") as out:
        await asyncio.to_thread(shutil.copyfileobj, upload.file, out)
    return str(path)


def _urls(gw: Gateway, request: Request, job: Job) -> dict[str, str]:
    base = gw.base_url()
    if job.output is None or job.output.deleted_at is not None or base is None or _held(job):
        return {}  # links are only made from VIDGATE_PUBLIC_URL, never from the request's Host
    urls = {
        "video": gw.signed_url(base, job.id, "video"),
        "content": f"{base}/v1/videos/{job.id}/content",
    }
    if job.thumbnail is not None and job.thumbnail.deleted_at is None:  # none once expired
        urls["thumbnail"] = gw.signed_url(base, job.id, "thumbnail")
    if job.done:
        urls.update(player_urls(gw, base, job))  # every variant, the HLS master, the player
    return urls


def _held(job: Job) -> bool:
    return job.scan is not None and job.scan.verdict == "block" and not job.scan.released


def _video(gw: Gateway, request: Request, job: Job) -> dict[str, Any]:
    return video_object(job, _urls(gw, request, job))


async def _job(gw: Gateway, job_id: str, who: Principal) -> Job:
    return await gw.read(gw.engine.get, job_id, tenant=who.tenant)


@router.post(
    "/videos",
    summary="Create a video (OpenAI-compatible, with vidgate's fields)",
    responses=errors(400, 401, 402, 404, 409, 413, 422, 429, 503),
    openapi_extra=CREATE_BODY,
)
async def create(
    request: Request, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    fields, upload = await _read_body(request, gw, who.tenant)
    job = await admit_video(
        gw, who.tenant, fields, upload, idempotency_key=request.headers.get("idempotency-key")
    )
    return JSONResponse(_video(gw, request, job))


async def admit_video(
    gw: Gateway,
    tenant: str,
    fields: dict[str, Any],
    upload: str | None = None,
    *,
    idempotency_key: str | None = None,
) -> Job:
    """Create a job from a create body's fields: what the API and the dashboard both run."""
    video_request = parse_create(
        fields, gw.engine.catalog, upload=upload, idempotency_key=idempotency_key
    )
    return await admit_request(gw, tenant, video_request)


async def admit_request(gw: Gateway, tenant: str, video_request: VideoRequest) -> Job:
    """Admit a request for a tenant: its inputs checked, then the job in one transaction with
    the tenant's limits (one trip off the event loop)."""

    def admit() -> Job:
        checked = guard_inputs(video_request, gw.settings, tenant)
        return gw.engine.enqueue(
            checked, tenant=tenant, guard=lambda conn: gw.tenants.guard_new_job(conn, tenant)
        )

    return await asyncio.to_thread(admit)


@router.post(
    "/videos/estimate",
    summary="Quote a request: the model that would serve it, and why",
    responses=errors(400, 401, 404, 413, 429, 503),
    openapi_extra=CREATE_BODY,
)
async def estimate(
    request: Request,
    count: int | None = None,
    per: Literal["day", "month"] = "day",
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    fields, _ = await _read_body(request, gw, who.tenant)
    return await estimate_video(gw, who.tenant, fields, count=count, per=per)


async def estimate_video(
    gw: Gateway,
    tenant: str,
    fields: dict[str, Any],
    *,
    count: int | None = None,
    per: Literal["day", "month"] = "day",
) -> dict[str, Any]:
    """Quote a create body's fields without creating anything (the API's and the dashboard's
    estimate)."""
    video_request = parse_create(fields, gw.engine.catalog)
    video_request = await asyncio.to_thread(guard_inputs, video_request, gw.settings, tenant)
    # The same defaults as create: an unset duration may become a capable model's default.
    video_request, plan = await asyncio.to_thread(
        lambda: gw.engine.resolve(video_request, tenant=tenant)
    )
    first = plan.first
    if count is not None and not 0 <= count <= 10_000_000:
        raise InvalidRequest("count must be between 0 and 10000000")
    models = estimate_models(video_request, plan, gw.engine.catalog)
    projection = (
        project(first.quote.usd, count, per).as_dict()
        if count is not None and first.quote is not None
        else None
    )
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
        # The priority and strategy, and why each candidate is where it is.
        **summary(plan),
        "notice": plan.notice,
        "problems": violations(first.model, video_request),
        # The prompt as it stands (a template applied) and the linter's hints for this model.
        "prompt": video_request.prompt,
        "template": video_request.template,
        "variables": video_request.variables,
        "hints": [h.model_dump(mode="json") for h in gw.engine.hints(video_request, plan)],
        "estimates": [m.as_dict() for m in models],
        "projection": projection,
        # Create would serve this from the result cache: at $0, from that job's video.
        "cache": await asyncio.to_thread(_cache_hit, gw, video_request, plan, tenant),
    }


def _cache_hit(gw: Gateway, request: VideoRequest, plan: RoutePlan, tenant: str) -> Any:
    hit = gw.engine.cached(request, plan, tenant=tenant)
    if hit is None:
        return None
    return {"hit": True, "usd": 0.0, "cached_from": hit.job_id, **hit.model_dump(mode="json")}


@router.get(
    "/videos",
    summary="List videos, newest first (cursor pagination)",
    responses=errors(400, 401, 404, 429),
)
async def list_videos(
    request: Request,
    after: str | None = None,
    limit: int = 20,
    order: str = "desc",
    status: JobStatus | None = None,
    provider: str | None = None,
    user: str | None = None,
    q: str | None = None,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    """vidgate's filters narrow the list: ``status``, ``provider``, ``user`` (the end user the
    request named) and ``q`` (words of the prompt)."""
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'")
    where = JobFilter(tenant=who.tenant, status=status, provider=provider, user=user, text=q)
    jobs, has_more = await asyncio.to_thread(  # up to 100 jobs: not on the loop
        gw.engine.search, where, after=after, limit=limit, newest_first=order == "desc"
    )
    data = [_video(gw, request, job) for job in jobs]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


@router.get(
    "/videos/{video_id}",
    summary="Retrieve a video",
    response_model=dict[str, Any],
    responses=errors(401, 404, 429),
)
async def retrieve(
    video_id: str,
    request: Request,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> JSONResponse:
    # A JSONResponse skips FastAPI's re-validation of a dict it would only copy.
    return JSONResponse(_video(gw, request, await _job(gw, video_id, who)))


@router.delete(
    "/videos/{video_id}",
    summary="Delete a video (cancelling it first if running)",
    responses=errors(401, 404, 429),
)
async def delete(
    video_id: str, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    job = await gw.engine.delete(video_id, tenant=who.tenant)
    return {"id": job.id, "object": "video.deleted", "deleted": True}


@router.post(
    "/videos/{video_id}/cancel", summary="Cancel a video", responses=errors(401, 404, 429, 413)
)
async def cancel(
    video_id: str,
    request: Request,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    job = await gw.engine.cancel(video_id, tenant=who.tenant)
    return _video(gw, request, job)


def _asset(job: Job, variant: str) -> Asset:
    """The job's stored file of ``variant``: ``video`` and ``thumbnail`` as always, OpenAI's
    ``spritesheet`` (the sprite), and every delivered variant by its name."""
    if not _VARIANT_NAME.fullmatch(variant):
        raise InvalidRequest("variant must be a name like video, 480p, hls or poster")
    refuse_if_held(job)  # a blocked output is never served, by any route (451)
    kind = _ALIASES.get(variant, variant)
    found = {a.kind: a for a in job.assets}
    if job.output is not None:
        found.setdefault("video", job.output)
    if job.thumbnail is not None:
        found.setdefault("thumbnail", job.thumbnail)
    # Nothing before the job ends: between its store and deliver steps the files still change
    # (and are served as immutable once they are final).
    if job.done and kind in found:
        return found[kind]
    if not job.done or job.output is None:
        raise ContentNotReady(
            f"video {job.id} has no {variant} yet (status {job.status.value}); "
            "download it once the status is 'completed'",
            details={"job_id": job.id, "status": job.status.value},
        )
    available = sorted(found) + sorted(a for a, k in _ALIASES.items() if k in found)
    raise VariantNotAvailable(
        f"video {job.id} has no {variant!r} variant; it has: {', '.join(available)}",
        details={"job_id": job.id, "variant": variant, "available": available},
    )


def _file(gw: Gateway, job: Job, variant: str, *, check: bool = False) -> StoredFile:
    asset = _asset(job, variant)
    stored = gw.engine.stored_file(asset, check=check)
    if stored is None:
        raise NotFound(f"the {variant} of video {job.id} is no longer stored")
    return stored


async def _stored(gw: Gateway, job: Job, variant: str) -> StoredFile:
    # Proxying from S3 asks the bucket first (a HEAD), so a missing object is a 404, not a
    # stream that breaks after its headers went out.
    check = gw.settings.content_delivery == "proxy"
    return await asyncio.to_thread(_file, gw, job, variant, check=check)


@router.get(
    "/videos/{video_id}/content",
    summary="Download the video or its thumbnail",
    response_class=Response,
    responses={**_FILE_RESPONSES, 302: _REDIRECT, **errors(400, 401, 404, 409, 429, 451)},
)
async def content(
    video_id: str,
    request: Request,
    variant: str = "video",
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> Response:
    job = await _job(gw, video_id, who)
    stored = await _stored(gw, job, variant)
    if variant == "hls":
        # The master's URIs are relative to it: it is served where its media playlists and
        # segments are (the same key, the same authorization).
        return RedirectResponse(f"/v1/videos/{job.id}/hls/master.m3u8", 307)
    base = gw.base_url()
    if gw.settings.content_redirect and base is not None:
        return RedirectResponse(
            gw.signed_url(base, job.id, variant),
            302,
            headers={**cors_headers(request, gw.settings), "Cache-Control": "private, no-store"},
        )
    return file_response(request, gw.settings, stored, cache_control=PRIVATE)


@router.head("/videos/{video_id}/content", include_in_schema=False)
async def content_head(
    video_id: str,
    request: Request,
    variant: str = "video",
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> Response:
    """HEAD: the GET's status and headers without the body (CDNs and players ask)."""
    return await content(video_id, request, variant, who, gw)


@router.options("/videos/{video_id}/content", include_in_schema=False)
async def content_preflight(request: Request, gw: Gateway = Depends(gateway)) -> Response:
    return preflight(request, gw.settings)


@router.get(
    "/videos/{video_id}/hls/{path:path}",
    summary="A file of the video's HLS set: the master, a media playlist, a segment",
    response_class=Response,
    responses={**_FILE_RESPONSES, **errors(400, 401, 404, 409, 429, 451)},
)
async def hls_file(
    video_id: str,
    path: str,
    request: Request,
    who: Principal = Depends(principal),
    gw: Gateway = Depends(gateway),
) -> Response:
    job = await _job(gw, video_id, who)
    return await hls_response(gw, request, job, _asset(job, "hls"), path, PRIVATE)


@router.get(
    "/files/{video_id}/{variant}",
    summary="A signed, cacheable link to a video's file",
    response_class=Response,
    responses={**_FILE_RESPONSES, 302: _REDIRECT, **errors(400, 403, 404, 409, 451)},
)
async def signed_file(
    video_id: str,
    variant: str,
    request: Request,
    expires: int = 0,
    sig: str = "",
    gw: Gateway = Depends(gateway),
) -> Response:
    gw.require_signature(video_id, variant, expires, sig)
    job = await gw.read(gw.engine.get, video_id)
    stored = await _stored(gw, job, variant)
    # The link names one job's variant, whose bytes never change: cacheable for a year by
    # anyone holding it (see the README's "Fronting vidgate with a CDN" on expiry).
    return file_response(request, gw.settings, stored, cache_control=IMMUTABLE)


@router.head("/files/{video_id}/{variant}", include_in_schema=False)
async def signed_file_head(
    video_id: str,
    variant: str,
    request: Request,
    expires: int = 0,
    sig: str = "",
    gw: Gateway = Depends(gateway),
) -> Response:
    """HEAD: the GET's status and headers without the body."""
    return await signed_file(video_id, variant, request, expires, sig, gw)


@router.options("/files/{video_id}/{variant}", include_in_schema=False)
async def signed_file_preflight(request: Request, gw: Gateway = Depends(gateway)) -> Response:
    return preflight(request, gw.settings)


@router.get(
    "/videos/{video_id}/events",
    summary="Server-sent events: every change, to the end",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **errors(401, 404, 429),
    },
)
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
