"""Playback in a browser, with no API key in the page: the signed HLS set and a player page.

- ``GET /v1/files/{id}/hls/{expires}/{sig}/{path}``: a file of the job's HLS set under a
  signed path prefix. The signature is in the path, so the playlists' relative URIs resolve
  to signed URLs without rewriting them, and a CDN caches each file by its path.
- ``GET /v1/files/{id}/player/{expires}/{sig}``: a small page with a ``<video>`` element: the
  HLS set where the browser plays HLS itself, else through the vendored hls.js
  (``/v1/static/hls.light.min.js``), else the browser-safe MP4; the poster as its poster.
  Every URL in it is a signed link minted for the page; no key is ever written into it.

The Video object's ``urls`` name both (``player``, ``hls``) when ``VIDGATE_PUBLIC_URL`` is set.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..exceptions import NotFound
from .delivery_responses import IMMUTABLE, preflight
from .errors import errors
from .gateway import Gateway, gateway
from .hls import hls_response, player_urls
from .videos import _asset

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["playback"])

_STATIC = Path(__file__).parent / "static"
_PAGE = Template((_STATIC / "player.html").read_text(encoding="utf-8"))
_HLS_JS = _STATIC / "vendor" / "hls.js" / "hls.light.min.js"
_HTML = {"schema": {"type": "string"}}


@router.get(
    "/files/{video_id}/hls/{expires}/{sig}/{path:path}",
    summary="A file of the video's HLS set under a signed path (for players and CDNs)",
    response_class=Response,
    responses=errors(403, 404, 409, 451),
)
async def signed_hls(
    video_id: str,
    expires: int,
    sig: str,
    path: str,
    request: Request,
    gw: Gateway = Depends(gateway),
) -> Response:
    gw.require_signature(video_id, "hls", expires, sig)
    job = await gw.read(gw.engine.get, video_id)
    return await hls_response(gw, request, job, _asset(job, "hls"), path, IMMUTABLE)


@router.options("/files/{video_id}/hls/{expires}/{sig}/{path:path}", include_in_schema=False)
async def signed_hls_preflight(request: Request, gw: Gateway = Depends(gateway)) -> Response:
    """CORS preflight for a player on another origin (hls.js asking with a Range header)."""
    return preflight(request, gw.settings)


@router.get(
    "/files/{video_id}/player/{expires}/{sig}",
    summary="A page that plays the video (HLS, else MP4) with signed links only",
    response_class=Response,
    responses={
        200: {"description": "The player page", "content": {"text/html": _HTML}},
        **errors(403, 404, 409, 451),
    },
)
async def player(
    video_id: str, expires: int, sig: str, gw: Gateway = Depends(gateway)
) -> HTMLResponse:
    gw.require_signature(video_id, "player", expires, sig)
    job = await gw.read(gw.engine.get, video_id)
    _asset(job, "video")  # 409 before it is done, 451 while held, 404 when gone
    base = gw.base_url()
    if base is None:
        raise NotFound("the player needs VIDGATE_PUBLIC_URL, which signed links are made from")
    kinds = {a.kind for a in job.assets if a.deleted_at is None}
    still = "poster" if "poster" in kinds else "thumbnail"
    values = {
        "title": f"video {job.id}",
        "hls": player_urls(gw, base, job).get("hls", ""),
        "mp4": gw.signed_url(base, job.id, "video"),
        "poster": gw.signed_url(base, job.id, still) if still in kinds else "",
        "hlsjs": f"{base}/v1/static/hls.light.min.js",
    }
    page = _PAGE.substitute({k: html.escape(v, quote=True) for k, v in values.items()})
    # The page holds links that expire: cached no longer than they last, by the viewer only.
    return HTMLResponse(page, headers={"Cache-Control": "private, max-age=300"})


@router.get("/static/hls.light.min.js", include_in_schema=False)
async def hls_js() -> FileResponse:
    """hls.js 1.7.4 (Apache-2.0), vendored: for browsers without native HLS."""
    return FileResponse(_HLS_JS, media_type="text/javascript", headers={"Cache-Control": IMMUTABLE})
