"""Serving one file of a job's delivered HLS set (the master, a media playlist, a segment),
for the authenticated route (``/v1/videos/{id}/hls/…``) and the signed one (``playback``)."""

from __future__ import annotations

import asyncio
import re
from pathlib import PurePosixPath

from fastapi import Request
from fastapi.responses import Response

from ..exceptions import NotFound
from ..types import Asset, Job
from .delivery_responses import file_response
from .gateway import Gateway

__all__ = ["HLS_PATH", "HLS_TYPES", "hls_response", "player_urls"]

#: A file of a delivered HLS set, relative to its master: ``master.m3u8``, ``480p/index.m3u8``,
#: ``480p/init.mp4``, ``480p/seg_000.m4s`` (checked again against the set's own file list).
HLS_PATH = re.compile(r"(?:[A-Za-z0-9_]{1,24}/)?[A-Za-z0-9_]{1,32}\.(?:m3u8|mp4|m4s)")
HLS_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
}


async def hls_response(
    gw: Gateway, request: Request, job: Job, asset: Asset, path: str, cache_control: str
) -> Response:
    """The file ``path`` of ``asset`` (the job's ``hls`` asset), or ``NotFound``. A playlist is
    always sent from here (its URIs are relative to it); a segment may be a redirect to its
    presigned URL on S3."""
    if not HLS_PATH.fullmatch(path):
        raise NotFound(f"no HLS file {path[:80]!r}")
    files = asset.facts.files if asset.facts is not None else []
    keys = asset.facts.keys if asset.facts is not None else []
    wanted = f"hls/{path}"
    if wanted not in files or len(keys) != len(files):
        raise NotFound(f"video {job.id}'s HLS set has no file {path!r}")
    index = files.index(wanted)
    suffix = PurePosixPath(path).suffix
    stored = (
        None
        if asset.deleted_at is not None
        else await asyncio.to_thread(
            gw.engine.stored_object,
            keys[index],
            HLS_TYPES[suffix],
            etag=f"{asset.sha256}-{index}",
        )
    )
    if stored is None:
        raise NotFound(f"the HLS file {path!r} of video {job.id} is no longer stored")
    return file_response(
        request, gw.settings, stored, cache_control=cache_control, redirect=suffix != ".m3u8"
    )


def player_urls(gw: Gateway, base: str, job: Job) -> dict[str, str]:
    """The signed links of a completed job's delivered variants (by name), its ``hls`` master
    under a signed path, and its ``player`` page."""
    kinds = [a.kind for a in job.assets if a.deleted_at is None]
    urls = {kind: gw.signed_url(base, job.id, kind) for kind in kinds if kind != "hls"}
    if "hls" in kinds:
        urls["hls"] = f"{gw.signed_prefix(base, job.id, 'hls')}/master.m3u8"
    urls["player"] = gw.signed_prefix(base, job.id, "player")
    return urls
