"""The deliver step's work: a job's stored output into its delivery set.

``workflow.deliver_step`` (which fetches the output again on a host that lacks it) calls
:func:`deliver_output` after the output is validated, scanned and stored, before the job
completes. In order:

1. the tenant's profile (``tenants.delivery_profile`` over ``VIDGATE_DELIVERY_PROFILE``);
2. ``delivery.build.build_file`` in the media lane (never on the event loop): one decode pass,
   every rendition, HLS, poster, sprite and preview, written under the job's work folder
   (``delivery/``, emptied first: a step that runs again starts clean);
3. Content Credentials on each variant's file (``engine/credentials.py``; sidecars added);
4. every file put in storage — the browser-safe MP4 at ``videos/<job>.mp4`` (the key the
   OpenAI-compatible ``video`` variant has always had), the original at
   ``originals/<job>.<ext>``, everything else under ``renditions/<job>/`` (HLS keeps its
   folder shape, so the playlists' relative URIs hold) — and one ``assets`` row per variant
   (kind = variant, the facts in ``media.rendition``), replacing any row a crashed run wrote.

A failure is ``DeliveryFailed`` (or ``MediaUnreadable``): the job fails with that code.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..delivery.profile import DeliveryProfile, parse_profile
from ..exceptions import DeliveryFailed, MediaUnreadable
from ..storage import IMMUTABLE
from ..types import Asset, MediaInfo, Phase, RenditionFacts, new_id
from .credentials import sign_set
from .payloads import DeliveryPayload
from .runtime import current

__all__ = ["DELIVER_PROGRESS", "deliver_output", "delivery_key", "profile_for", "redeliver"]

DELIVER_PROGRESS = 98.0
_STORED_PROGRESS = 99.0
_ERRORS = {cls.code: cls for cls in (DeliveryFailed, MediaUnreadable)}


def profile_for(tenant: str) -> DeliveryProfile:
    """The tenant's delivery profile: its own keys over the operator's default."""
    rt = current()
    base = rt.settings.resolved_delivery_profile
    own = rt.store.delivery_profile(tenant)
    return parse_profile(own, base, where=f"tenant {tenant}'s delivery profile")


def delivery_key(job_id: str, variant: str, file: str) -> str:
    """Where a delivered file is kept in storage."""
    if variant == "video" and file == "video.mp4":
        return f"videos/{job_id}.mp4"
    if variant == "original":
        return f"originals/{job_id}{Path(file).suffix}"
    return f"renditions/{job_id}/{file}"


def _unpack(result: dict[str, Any]) -> list[dict[str, Any]]:
    error = result.get("error")
    if error is not None:
        cls = _ERRORS.get(str(error.get("code")), DeliveryFailed)
        raise cls(str(error.get("message", "")), details=error.get("details") or {})
    return list(result["renditions"])


def _summary(renditions: list[dict[str, Any]], seconds: float) -> str:
    parts = []
    for r in renditions:
        if r["variant"] == "original":
            continue
        size = f" {r['width']}x{r['height']}" if r["codec"] in ("h264", "vp9", "av1") else ""
        how = " (remux)" if r["remuxed"] else ""
        parts.append(f"{r['variant']}{size}{how}")
    return f"delivered: {', '.join(parts)} in {seconds:.1f} s"


async def deliver_output(
    job_id: str, path: Path, on_queue: Callable[[int], None] | None = None
) -> DeliveryPayload:
    """Build, store and record the delivery set of the output at ``path`` (see the module
    docstring)."""
    rt = current()
    job = rt.store.get(job_id)
    profile = await asyncio.to_thread(profile_for, job.tenant)
    rt.store.set_phase(
        job_id, Phase.DELIVERING, DELIVER_PROGRESS, "making renditions, HLS, poster and previews"
    )
    out_dir = path.parent / "delivery"
    shutil.rmtree(out_dir, ignore_errors=True)
    from ..delivery.build import build_file  # PyAV and Pillow: only where media work runs

    started = time.monotonic()
    renditions = _unpack(
        await rt.media_lane().run(
            build_file, str(path), str(out_dir), profile.as_dict(), on_queue=on_queue
        )
    )
    # Content Credentials on each variant (engine/credentials.py), before anything is stored.
    await sign_set(job, path, out_dir, renditions, on_queue=on_queue)
    seconds = time.monotonic() - started
    rt.store.set_progress(job_id, Phase.DELIVERING, _STORED_PROGRESS, "storing the delivery set")
    for rendition in renditions:
        await _store(job_id, out_dir, rendition)
    shutil.rmtree(out_dir, ignore_errors=True)
    rt.store.add_event(job_id, Phase.DELIVERING, _STORED_PROGRESS, _summary(renditions, seconds))
    return {"variants": [r["variant"] for r in renditions], "seconds": round(seconds, 3)}


async def redeliver(job_id: str, key: str) -> DeliveryPayload:
    """The delivery set of a video that is already in storage under ``key`` (an output
    released from quarantine): copied into the job's work folder, then :func:`deliver_output`
    as the deliver step would."""
    rt = current()
    work = rt.settings.work_dir / job_id / "release"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = work / f"output{Path(key).suffix}"
    try:
        await asyncio.to_thread(_copy_out, key, source)
        return await deliver_output(job_id, source)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_out(key: str, dest: Path) -> None:
    storage = current().storage
    local = storage.local_path(key)
    if local is not None and local.is_file():
        shutil.copyfile(local, dest)
        return
    with dest.open("wb") as out:  # a backend without local files: streamed, never whole
        for chunk in storage.open_range(key):
            out.write(chunk)


async def _store(job_id: str, out_dir: Path, rendition: dict[str, Any]) -> None:
    rt = current()
    variant = rendition["variant"]
    keys = []
    first = None
    for file in rendition["files"]:
        source = out_dir / file
        content_type = _content_type(file, rendition["content_type"])
        stored = await asyncio.to_thread(
            functools.partial(rt.storage.put_file, cache_control=IMMUTABLE),
            delivery_key(job_id, variant, file),
            source,
            content_type,
        )
        keys.append(stored.key)
        first = first or stored
    assert first is not None  # a rendition has at least one file
    info = MediaInfo.model_validate(rendition["media"]) if rendition.get("media") else None
    facts = RenditionFacts.model_validate({**rendition, "keys": keys})
    rt.store.put_asset(
        job_id,
        Asset(
            id=new_id("asset"),
            kind=variant,
            key=first.key,
            uri=first.uri,
            content_type=rendition["content_type"],
            size_bytes=first.size_bytes,
            sha256=first.sha256,
            media=info,
            facts=facts,
        ),
    )


def _content_type(file: str, main: str) -> str:
    from ..delivery.build import CONTENT_TYPES

    return CONTENT_TYPES.get(Path(file).suffix.lower(), main)
