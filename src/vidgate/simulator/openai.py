"""Simulator twin of OpenAI's Videos API (Sora), mounted at ``/openai``: point the official SDK
at ``base_url=…/openai/v1`` and vidgate at ``VIDGATE_OPENAI_BASE_URL=…/openai/v1``.

The wire contract is /work/shared/providers/runway-luma-openai.md section 4 (openai SDK 3.57.0
read from source, a capture of its requests, openai/skills' Sora references):

===========================================  ==================================================
``POST   /v1/videos``                        create; multipart (as the SDK sends it) or JSON
``GET    /v1/videos``                        list, cursor pages (``after``, ``limit``, ``order``)
``GET    /v1/videos/{id}``                   the Video object (poll)
``DELETE /v1/videos/{id}``                   delete (there is no cancel)
``POST   /v1/videos/{id}/remix``             JSON ``{prompt}``: a new video from a finished one
``GET    /v1/videos/{id}/content?variant=``  the bytes: ``video`` (MP4), ``thumbnail`` (WebP),
                                             ``spritesheet`` (JPEG)
``POST   /v1/moderations``                   the moderation API (``_openai_moderations``)
===========================================  ==================================================

Videos go ``queued → in_progress (progress 0-100) → completed | failed``; a failure carries
``error: {code, message}``. Every error answer is OpenAI's envelope ``{"error": {"message",
"type", "param", "code"}}`` with an ``x-request-id`` header. When ``openai_webhook_url`` is
configured, each video's end is announced as a Standard Webhooks delivery (``video.completed``
or ``video.failed``; the payload carries only the id), signed with ``openai_webhook_secret``.

Faults (``X-Simulator-Fault`` header, ``[sim:…]`` prompt markers, the global profile) in
OpenAI's shapes:

======================  =========================================================================
``auth``                401 ``invalid_api_key`` (the message shows a masked key, as OpenAI's does)
``429``                 429 ``rate_limit_exceeded`` with ``retry-after`` / ``retry-after-ms``
                        (``retry-after=N`` sets the value, default 1 s); once per reference, so
                        a retry passes
``429-no-retry-after``  the same without the headers
``no-credits``          429 ``insufficient_quota`` (OpenAI does not use 402)
``invalid``             400 ``invalid_request_error``
``moderation``          400 ``moderation_blocked`` at create: nothing is made
``500-create``          500 and nothing is made (once per reference)
``500-after-create``    the video is made, then 500 (once per reference): an ambiguous failure
``fail``                the video ends ``failed`` with ``video_generation_failed``
``moderation-after=N``  the video ends ``failed`` with ``moderation_blocked`` after N s
``slow`` / ``hang``     5 times the latency / stuck ``in_progress`` at 50 %
``throttled``           waits ``queued`` (OpenAI has no throttled state)
``500-poll``            the first two retrieves of the video answer 500
``500-download``        the first content download answers 500
``expired-url``         ``expires_at`` is already past: content answers 410, as after expiry
``missing-output``      ``completed``, but content answers 404
output faults           ``truncated``, ``corrupt``, ``wrong-duration``, ``wrong-aspect``
webhook faults          ``webhook-drop``, ``webhook-duplicate``, ``webhook-late=N``,
                        ``webhook-forged`` (see ``SimState.send_webhook``)
======================  =========================================================================

Faults given at create stay with the video. On other calls, the header's ``auth`` / ``429``
faults apply to that call, as do ``500-poll`` (retrieve) and ``500-download`` (content).

Unconfirmed wire details are marked *unconfirmed* below (and in ``_openai_validation``): the
code of a generic generation failure, what content answers before a video is finished or after it
expires, and the wording of some validation messages.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from PIL import Image

from ._common import REFERENCE_HEADER, add_task, bearer_token
from ._openai_errors import Handler as Handler
from ._openai_errors import (
    OpenAIFailure,
    _answers_errors,
    _invalid_value,
    _json,
    _request_id,
    _server_error,
)
from ._openai_moderations import router as moderations_router
from ._openai_validation import CREATE_FIELDS as CREATE_FIELDS
from ._openai_validation import DEFAULT_MODEL as DEFAULT_MODEL
from ._openai_validation import DEFAULT_SECONDS as DEFAULT_SECONDS
from ._openai_validation import DEFAULT_SIZE as DEFAULT_SIZE
from ._openai_validation import IMAGE_TYPES as IMAGE_TYPES
from ._openai_validation import SECONDS as SECONDS
from ._openai_validation import SIZES as SIZES
from ._openai_validation import SNAPSHOTS as SNAPSHOTS
from ._openai_validation import Upload as Upload
from ._openai_validation import _create_fields, _input_reference, _validated
from .faults import (
    CREATE_STAGE,
    DRAWABLE,
    FAULT_HEADER,
    Faults,
    UnknownFault,
    drawable,
    parse_faults,
    strip_markers,
)
from .state import RenderSpec, SimState, SimTask, sim_state

__all__ = ["PROVIDER", "REFERENCE_HEADER", "router", "sign_webhook"]

router = APIRouter()

PROVIDER = "openai"

VARIANTS = ("video", "thumbnail", "spritesheet")
#: A create draws every fault; those that act on the create call itself (``CREATE_STAGE``) do
#: not stay with the video it makes, the rest do.
TASK_FAULTS = frozenset(DRAWABLE).difference(CREATE_STAGE)
#: Faults a non-create call can meet.
CALL_FAULTS = ["auth", "429", "429-no-retry-after"]
_STATUS = {
    "throttled": "queued",
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "canceled": "failed",
}
_MODERATION_MESSAGE = "Your request was blocked by our moderation system."
_DEFAULT_PAGE, _MAX_PAGE = 20, 100
#: Background watchers that announce a video's end by webhook (kept so they are not collected).
_WATCHERS: set[asyncio.Task[None]] = set()


# -- faults and auth -----------------------------------------------------------------------


def _faults(request: Request, sim: SimState, names: list[str], prompt: str | None = None) -> Faults:
    try:
        requested = parse_faults(request.headers.get(FAULT_HEADER), prompt)
    except UnknownFault as exc:
        raise OpenAIFailure(400, str(exc), param=FAULT_HEADER, code="unknown_fault") from None
    return sim.draw(names, requested)


def _mask(key: str) -> str:
    """A key as OpenAI shows it in a 401: the first and last characters, stars between."""
    if len(key) <= 12:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def _bearer(request: Request) -> str:
    token = bearer_token(request)
    if token is None:
        raise OpenAIFailure(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    return token


def _check_call(request: Request, faults: Faults, key: str, *, once_key: str | None) -> None:
    """The faults every call can meet: a bad key, then rate limits."""
    if "auth" in faults:
        raise OpenAIFailure(
            401,
            f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    sim = sim_state(request)
    for name, with_header in (("429", True), ("429-no-retry-after", False)):
        if name in faults and (once_key is None or sim.first_time(name, once_key)):
            headers = {
                "x-ratelimit-limit-requests": "25",
                "x-ratelimit-remaining-requests": "0",
            }
            wait = faults.value("retry-after", 1.0)
            if with_header:
                headers["retry-after"] = f"{wait:g}"
                headers["retry-after-ms"] = str(round(wait * 1000))
                headers["x-ratelimit-reset-requests"] = f"{wait:g}s"
            raise OpenAIFailure(
                429,
                "Rate limit reached for videos in organization org-simulator on requests per min "
                f"(RPM): Limit 25, Used 25, Requested 1. Please try again in {wait:g}s.",
                type_="requests",
                code="rate_limit_exceeded",
                headers=headers,
            )


# -- the Video object ------------------------------------------------------------------------


def _finished_at(task: SimTask, now: float) -> float:
    """When the video ended, fixed the first time anyone sees it ended."""
    return float(task.extra.setdefault("finished_at", now))


def _expires_at(task: SimTask, finished: float) -> float:
    if "expired-url" in task.faults:
        return finished - 60
    return finished + float(task.extra["ttl"])


def video_object(task: SimTask, now: float | None = None) -> dict[str, Any]:
    """The Video object for ``task`` at time ``now`` (section 4.4)."""
    now = time.time() if now is None else now
    timeline = task.at(now)
    status = _STATUS[timeline.phase]
    completed_at = expires_at = None
    error = None
    progress = int(timeline.progress * 100)
    if status == "queued":
        progress = 0
    elif status == "completed":
        progress = 100
        finished = _finished_at(task, now)
        completed_at, expires_at = int(finished), int(_expires_at(task, finished))
    elif status == "failed":
        completed_at = int(_finished_at(task, now))
        if timeline.failure == "moderation":
            error = {"code": "moderation_blocked", "message": _MODERATION_MESSAGE}
        else:  # the code of a generic failure is unconfirmed
            error = {
                "code": "video_generation_failed",
                "message": "Video generation failed. Please try again.",
            }
    return {
        "id": task.id,
        "object": "video",
        "model": task.model,
        "status": status,
        "progress": progress,
        "created_at": int(task.created_at),
        "completed_at": completed_at,
        "expires_at": expires_at,
        "error": error,
        "prompt": task.extra["prompt"],
        "remixed_from_video_id": task.extra.get("remixed_from"),
        "seconds": task.extra["seconds"],
        "size": task.extra["size"],
    }


def _poll_after_ms(task: SimTask) -> str:
    """The ``openai-poll-after-ms`` hint the SDK's poll helper reads: a tenth of the latency."""
    return str(max(50, min(1000, round(task.latency * 100))))


# -- create ---------------------------------------------------------------------------------


def _check_create_faults(sim: SimState, faults: Faults, once_key: str) -> None:
    """The create faults that answer before anything is made."""
    if "no-credits" in faults:
        raise OpenAIFailure(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        )
    if "invalid" in faults:
        raise OpenAIFailure(
            400,
            "Invalid request: the simulator was asked to reject it.",
            param="prompt",
            code="invalid_value",
        )
    if "moderation" in faults:
        raise OpenAIFailure(400, _MODERATION_MESSAGE, code="moderation_blocked")
    if "500-create" in faults and sim.first_time("500-create", once_key):
        raise _server_error()


def _new_video(
    request: Request,
    sim: SimState,
    *,
    prompt: str,
    model: str,
    seconds: str,
    size: str,
    faults: Faults,
    extra: dict[str, Any],
) -> SimTask:
    width, height = (int(side) for side in size.split("x"))
    spec = RenderSpec(
        prompt=strip_markers(prompt),
        duration=float(seconds),
        width=width,
        height=height,
        fps=24,  # not documented; vidgate's catalogue assumes 24
        seed=secrets.randbelow(2**31),
        audio=True,  # Sora always generates audio
    )
    task_extra = {
        "prompt": prompt,
        "seconds": seconds,
        "size": size,
        "ttl": sim.config.url_ttl,
        **extra,
    }
    task = add_task(
        sim,
        request,
        PROVIDER,
        spec,
        Faults({k: v for k, v in faults.values.items() if k in TASK_FAULTS}),
        model=model,
        extra=task_extra,
        task_id="video_" + secrets.token_hex(16),
    )
    _watch(sim, task)
    return task


async def _create(request: Request, fields: dict[str, Any], extra: dict[str, Any]) -> Response:
    sim = sim_state(request)
    key = _bearer(request)
    prompt_value = fields.get("prompt")
    faults = _faults(
        request,
        sim,
        drawable(),
        prompt_value if isinstance(prompt_value, str) else None,
    )
    reference = request.headers.get(REFERENCE_HEADER)
    once_key = reference or f"{fields.get('model')}|{prompt_value}|{fields.get('seconds')}"
    _check_call(request, faults, key, once_key=once_key)
    prompt, model, seconds, size = _validated(fields)
    image = _input_reference(fields.get("input_reference"), size)
    _check_create_faults(sim, faults, once_key)
    task = _new_video(
        request,
        sim,
        prompt=prompt,
        model=model,
        seconds=seconds,
        size=size,
        faults=faults,
        extra={"input_reference": image, **extra},
    )
    if "500-after-create" in faults and sim.first_time("500-after-create", once_key):
        raise _server_error()
    return _json(video_object(task))


@router.post("/v1/videos")
@_answers_errors
async def create_video(request: Request) -> Response:
    _bearer(request)
    fields, encoding = await _create_fields(request)
    return await _create(request, fields, {"encoding": encoding})


# -- read, list, delete, remix ----------------------------------------------------------------


def _video_or_404(sim: SimState, video_id: str) -> SimTask:
    task = sim.get(PROVIDER, video_id)
    if task is None:
        raise OpenAIFailure(
            404, f"Video with id '{video_id}' not found.", param="video_id", code="not_found"
        )
    return task


def _call(request: Request) -> tuple[SimState, Faults]:
    """Auth and the per-call faults of a non-create call."""
    sim = sim_state(request)
    key = _bearer(request)
    faults = _faults(request, sim, CALL_FAULTS)
    _check_call(request, faults, key, once_key=None)
    return sim, faults


@router.get("/v1/videos/{video_id}")
@_answers_errors
async def retrieve_video(request: Request, video_id: str) -> Response:
    sim, faults = _call(request)
    task = _video_or_404(sim, video_id)
    if task.first_polls_fail() or "500-poll" in faults:
        raise _server_error()
    video = video_object(task)
    headers = {}
    if video["status"] in ("queued", "in_progress"):
        headers["openai-poll-after-ms"] = _poll_after_ms(task)
    return _json(video, headers=headers)


@router.get("/v1/videos")
@_answers_errors
async def list_videos(
    request: Request, after: str | None = None, limit: str | None = None, order: str = "desc"
) -> Response:
    sim, _ = _call(request)
    try:
        count = _DEFAULT_PAGE if limit is None else int(limit)
    except ValueError:
        count = 0
    if not 1 <= count <= _MAX_PAGE:
        raise OpenAIFailure(
            400,
            f"Invalid 'limit': expected an integer between 1 and {_MAX_PAGE}.",
            param="limit",
            code="invalid_value",
        )
    if order not in ("asc", "desc"):
        raise _invalid_value("order", order, ("asc", "desc"))
    # Every video ever made, deleted ones too, so a cursor on a since-deleted video still works.
    everything = [task for task in sim.tasks.values() if task.provider == PROVIDER]
    ordered = sorted(enumerate(everything), key=lambda pair: (pair[1].created_at, pair[0]))
    tasks = [task for _, task in ordered]
    if order == "desc":
        tasks.reverse()
    if after is not None:
        position = next((i for i, task in enumerate(tasks) if task.id == after), None)
        if position is None:
            raise OpenAIFailure(400, f"Invalid 'after': no video with id '{after}'.", param="after")
        tasks = tasks[position + 1 :]
    live = [task for task in tasks if not task.deleted]
    page = [video_object(task) for task in live[:count]]
    return _json(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(live) > count,
        }
    )


@router.delete("/v1/videos/{video_id}")
@_answers_errors
async def delete_video(request: Request, video_id: str) -> Response:
    sim, _ = _call(request)
    task = _video_or_404(sim, video_id)
    task.deleted = True
    return _json({"id": task.id, "object": "video.deleted", "deleted": True})


@router.post("/v1/videos/{video_id}/remix")
@_answers_errors
async def remix_video(request: Request, video_id: str) -> Response:
    sim = sim_state(request)
    _bearer(request)
    fields, _ = await _create_fields(request)
    source = _video_or_404(sim, video_id)
    if set(fields) - {"prompt"}:
        unknown = sorted(set(fields) - {"prompt"})[0]
        raise OpenAIFailure(
            400, f"Unrecognized request argument supplied: {unknown}", param=unknown
        )
    if video_object(source)["status"] != "completed":
        # OpenAI remixes finished videos only; its exact answer otherwise is unconfirmed.
        raise OpenAIFailure(
            400,
            f"Video '{video_id}' is not completed and cannot be remixed.",
            param="video_id",
            code="invalid_video_state",
        )
    remix = {
        "prompt": fields.get("prompt"),
        "model": source.model,
        "seconds": source.extra["seconds"],
        "size": source.extra["size"],
    }
    return await _create(request, remix, {"encoding": "json", "remixed_from": source.id})


# -- content --------------------------------------------------------------------------------


async def _webp(jpeg: Path) -> Path:
    """The thumbnail as WebP, which is what OpenAI serves for ``variant=thumbnail``."""
    out = jpeg.with_suffix(".webp")
    if not out.is_file():

        def convert() -> None:
            tmp = out.with_suffix(".webp.tmp")
            with Image.open(jpeg) as image:
                image.save(tmp, format="WEBP", quality=80)
            tmp.replace(out)

        await asyncio.to_thread(convert)
    return out


@router.get("/v1/videos/{video_id}/content")
@_answers_errors
async def video_content(request: Request, video_id: str, variant: str = "video") -> Response:
    sim, faults = _call(request)
    task = _video_or_404(sim, video_id)
    if variant not in VARIANTS:
        raise _invalid_value("variant", variant, VARIANTS)
    video = video_object(task)
    if video["status"] != "completed":
        # What OpenAI answers for an unfinished or failed video is unconfirmed.
        raise OpenAIFailure(
            400,
            f"Video '{video_id}' has no content: its status is {video['status']}.",
            param="video_id",
            code="video_not_ready",
        )
    if "missing-output" in task.faults:
        raise OpenAIFailure(
            404, f"No content found for video '{video_id}'.", param="video_id", code="not_found"
        )
    if video["expires_at"] is not None and time.time() >= video["expires_at"]:
        # After expires_at the assets are gone; 410 is our choice (unconfirmed).
        raise OpenAIFailure(
            410,
            f"The content of video '{video_id}' has expired.",
            param="video_id",
            code="video_expired",
        )
    if task.first_download_fails() or "500-download" in faults:
        raise _server_error()
    if variant == "video":
        path, media_type = await sim.render(task), "video/mp4"
    elif variant == "thumbnail":
        path, media_type = await _webp(await sim.thumbnail(task)), "image/webp"
    else:  # the spritesheet is a JPEG; ours is a single frame
        path, media_type = await sim.thumbnail(task), "image/jpeg"
    return FileResponse(path, media_type=media_type, headers={"x-request-id": _request_id()})


router.include_router(moderations_router)  # before the catch-all below


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"], include_in_schema=False
)
@_answers_errors
async def unknown_route(request: Request, rest: str) -> Response:
    """What the simulator does not serve answers as OpenAI does for an unknown URL."""
    raise OpenAIFailure(404, f"Invalid URL ({request.method} /{rest})", code="unknown_url")


# -- webhooks -------------------------------------------------------------------------------


def sign_webhook(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature entry ``v1,<base64 HMAC-SHA256>`` of one delivery. A
    ``whsec_`` secret is base64 after the prefix; any other secret is used as UTF-8 bytes (as
    the openai SDK's verifier does)."""
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
    else:
        key = secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _watch(sim: SimState, task: SimTask) -> None:
    """Announce the video's end by webhook, if project webhooks are configured."""
    if not sim.config.openai_webhook_url:
        return
    watcher = asyncio.get_running_loop().create_task(_announce(sim, task))
    _WATCHERS.add(watcher)
    watcher.add_done_callback(_WATCHERS.discard)


async def _announce(sim: SimState, task: SimTask) -> None:
    url = sim.config.openai_webhook_url
    slowest = task.latency * 5 + task.faults.value("moderation-after", 0.0) + 600
    while True:
        if task.deleted or time.time() - task.created_at > slowest or url is None:
            return  # deleted, or hanging for good
        phase = task.at().phase
        if phase in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.05)
    _finished_at(task, time.time())
    event_id = "evt_" + secrets.token_hex(12)
    event = {
        "id": event_id,
        "object": "event",
        "created_at": int(time.time()),
        "type": "video.completed" if phase == "succeeded" else "video.failed",
        "data": {"id": task.id},
    }
    secret = sim.config.openai_webhook_secret

    def headers_for(raw: bytes) -> dict[str, str]:
        timestamp = int(time.time())
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(secret, event_id, timestamp, raw),
        }

    sim.send_webhook(url, event, faults=task.faults, headers_for=headers_for, kind=PROVIDER)
