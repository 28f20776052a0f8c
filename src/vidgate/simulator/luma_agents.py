"""Simulator twin of the Luma Agents API (``agents.lumalabs.ai/v1``, Ray 3.2), mounted at
``/luma-agents``. Shares its machinery with the Dream Machine twin (``simulator/luma.py``).

Written to the wire contract in the research (``runway-luma-openai.md`` section 3A;
``luma-agents`` 0.5.0 and docs.agents.lumalabs.ai), so that vidgate's adapter and the
unmodified official SDK (``luma_agents.Luma(base_url=…/luma-agents/v1)``) both work against it:

- ``POST /v1/generations``: ``{model: "ray-3.2", type: "video", prompt, aspect_ratio, video:
  {resolution, duration, loop, hdr, start_frame, end_frame, keyframes, keyframe_indexes}}``.
  An ImageRef is exactly one of ``url``, ``data`` (base64, with ``media_type``),
  ``generation_id`` (a completed Ray 3.2 generation: extension) or ``file_id``. Answers **201**
  with the whole Generation. Only ``type: "video"`` is simulated.
- ``GET /v1/generations/{id}``: ``state`` ``queued → processing → completed | failed``,
  ``failure_code`` (enum) + ``failure_reason``, ``output: [{type: "video", url}]`` with a
  1 h presigned URL.
- No list, no delete, no cancel and no callback: the API has none.
- Every answer carries ``X-Request-Id`` (echoing the client's) and ``X-API-Version:
  2026-04-01``; a successful POST also ``X-RateLimit-Limit``. Errors are ``{"detail": …}``:
  400 bad parameters, 401 bad key, 402 insufficient credits, 403 no HDR access, 413 media over
  50 MB, 422 rejected combinations or bad media, 429 with ``Retry-After``.

Faults as in ``luma.py``, in this API's shapes: ``no-credits`` is 402; ``moderation`` and
``moderation-after=N`` end the generation ``failed`` with ``failure_code: content_moderated``
(the docs give no ``failure_reason`` wording; this twin says whether the prompt or the generated
video was flagged); ``fail`` gives ``generation_failed``; ``missing-output`` is ``completed``
with ``output: []``; webhook faults are ignored (no callbacks).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ._common import add_task, poll_fails
from .faults import UnknownFault
from .luma import (
    CreateFaults,
    authorized,
    detail,
    iso,
    load_json,
    read_faults,
    render_spec,
    timeline,
)
from .state import SimState, SimTask, sim_state

__all__ = ["API_VERSION", "router"]

router = APIRouter()

PROVIDER = "luma-agents"
API_VERSION = "2026-04-01"
RATE_LIMIT = "60"
MODEL = "ray-3.2"
ASPECT_RATIOS = ("9:16", "3:4", "1:1", "4:3", "16:9", "21:9")
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
DURATIONS = {"5s": 5.0, "10s": 10.0}
_PROMPT_MAX = 6000
_MEDIA_LIMIT = 50 * 1024 * 1024
_REF_KEYS = ("url", "data", "generation_id", "file_id")

#: A refusal: (HTTP status, detail).
Problem = tuple[int, str]

#: Timeline failure → (failure_code, failure_reason).
_FAILURES = {
    "fail": ("generation_failed", "Internal model error during generation"),
    "moderation-input": ("content_moderated", "The prompt violated content guidelines"),
    "moderation": ("content_moderated", "The generated video violated content guidelines"),
}


def _headers(request: Request, **extra: str) -> dict[str, str]:
    return {
        "X-Request-Id": request.headers.get("x-request-id") or str(uuid.uuid4()),
        "X-API-Version": API_VERSION,
        **extra,
    }


def _answer(request: Request, response: JSONResponse | Response) -> Response:
    """Add the headers every Agents answer carries."""
    for name, value in _headers(request).items():
        response.headers.setdefault(name, value)
    return response


def _generation(sim: SimState, task: SimTask, *, queued: bool = False) -> dict[str, Any]:
    point = timeline(task)
    body: dict[str, Any] = {
        "id": task.id,
        "created_at": iso(task.created_at),
        "model": task.model,
        "type": "video",
        "state": "queued",
        "failure_code": None,
        "failure_reason": None,
        "output": None,
    }
    if queued or point.phase in ("queued", "throttled"):
        return body
    if point.phase == "running":
        return {**body, "state": "processing"}
    if point.phase == "succeeded":
        output = (
            []
            if "missing-output" in task.faults
            else [{"type": "video", "url": sim.signed_url(task, ttl=3600)}]
        )
        return {**body, "state": "completed", "output": output}
    code, reason = _FAILURES.get(point.failure or "fail", _FAILURES["fail"])
    return {**body, "state": "failed", "failure_code": code, "failure_reason": reason}


def _check_ref(sim: SimState, ref: Any, where: str) -> Problem | None:
    """(status, message) for a bad ImageRef, or None."""
    if not isinstance(ref, dict):
        return 400, f"{where} must be an object"
    given = [k for k in _REF_KEYS if ref.get(k) is not None]
    if len(given) != 1:
        return 422, f"{where}: provide exactly one of url, data, generation_id or file_id"
    kind = given[0]
    if kind == "url":
        url = ref["url"]
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return 422, f"{where}.url must be a publicly accessible http(s) URL"
    elif kind == "data":
        if not ref.get("media_type"):
            return 422, f"{where}.media_type is required with data"
        try:
            raw = base64.b64decode(str(ref["data"]), validate=True)
        except (binascii.Error, ValueError):
            return 422, f"{where}.data is not valid base64"
        if len(raw) > _MEDIA_LIMIT:
            return 413, "Input media exceeds the 50 MB limit"
    elif kind == "generation_id":
        source = sim.get(PROVIDER, str(ref["generation_id"]))
        if source is None or _generation(sim, source)["state"] != "completed":
            return 422, f"{where}.generation_id is not a completed generation of yours"
    else:
        return 422, f"{where}.file_id: file not found"
    return None


def _validate_keyframes(sim: SimState, video: dict[str, Any], duration: str) -> Problem | None:
    keyframes = video.get("keyframes")
    if keyframes is None:
        return None
    if video.get("start_frame") or video.get("end_frame") or video.get("loop"):
        return 422, "video.keyframes cannot be combined with start_frame, end_frame or loop"
    indexes = video.get("keyframe_indexes")
    if not isinstance(keyframes, list) or not 1 <= len(keyframes) <= 64:
        return 422, "video.keyframes: 1 to 64 images"
    if not isinstance(indexes, list) or len(indexes) != len(keyframes):
        return 422, "video.keyframe_indexes must match video.keyframes in length"
    last = int(DURATIONS[duration] * 24)
    if len(set(indexes)) != len(indexes) or not all(
        isinstance(i, int) and 0 <= i <= last for i in indexes
    ):
        return 422, f"video.keyframe_indexes: unique frame positions from 0 to {last}"
    for index, ref in enumerate(keyframes):
        problem = _check_ref(sim, ref, f"video.keyframes[{index}]")
        if problem:
            return problem
    return None


def _validate_video(sim: SimState, video: Any) -> Problem | None:
    if not isinstance(video, dict):
        return 400, "video must be an object"
    if video.get("resolution", "720p") not in RESOLUTIONS:
        return 400, "video.resolution: one of " + ", ".join(RESOLUTIONS)
    duration = video.get("duration", "5s")
    if duration not in DURATIONS:
        return 400, "video.duration: one of " + ", ".join(DURATIONS)
    if video.get("hdr"):
        return 403, "HDR generation is not enabled for this client"
    if video.get("exr_export"):
        return 422, "video.exr_export requires hdr"
    if video.get("loop") and duration == "10s":
        return 422, "video.loop is not supported with duration 10s"
    problem = _validate_keyframes(sim, video, duration)
    if problem:
        return problem
    for name in ("start_frame", "end_frame"):
        if video.get(name) is not None:
            problem = _check_ref(sim, video[name], f"video.{name}")
            if problem:
                return problem
    return None


def _validate(sim: SimState, body: dict[str, Any]) -> Problem | None:
    """(status, detail) for a create body the API refuses, or None."""
    if body.get("type") != "video":
        return 400, "type: only 'video' generations are simulated"
    if body.get("model") != MODEL:
        return 400, f"model: {body.get('model')!r} does not support type 'video' (use {MODEL!r})"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return 400, "prompt: field required"
    if len(prompt) > _PROMPT_MAX:
        return 400, f"prompt: at most {_PROMPT_MAX} characters"
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return 400, f"aspect_ratio: {MODEL} takes " + ", ".join(ASPECT_RATIOS)
    return _validate_video(sim, body.get("video") or {})


def _summary(value: Any) -> Any:
    """The request without inline base64 media (kept with the task for tests to inspect)."""
    if isinstance(value, dict):
        return {
            k: f"<{len(v) * 3 // 4} bytes>" if k == "data" and isinstance(v, str) else _summary(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_summary(v) for v in value]
    return value


@router.post("/v1/generations")
async def create_generation(request: Request) -> Response:
    sim = sim_state(request)
    if not authorized(request):
        return _answer(request, detail(401, "Invalid or missing API key"))
    raw = await request.body()
    body = load_json(raw)
    if body is None:
        return _answer(request, detail(400, "The body must be a JSON object"))
    try:
        requested = read_faults(request, body.get("prompt"))
    except UnknownFault as exc:
        return _answer(request, detail(400, str(exc)))
    faults = CreateFaults.of(sim, request, raw, requested)
    gate = faults.gate(no_credits_status=402, no_credits="Insufficient credits")
    if gate is not None:
        return _answer(request, gate)
    problem = _validate(sim, body)
    if problem:
        return _answer(request, detail(*problem))

    video = body.get("video") or {}
    spec = render_spec(
        body["prompt"],
        MODEL,
        DURATIONS[video.get("duration", "5s")],
        video.get("resolution", "720p"),
        body.get("aspect_ratio", "16:9"),
    )
    task_extra = {"request": _summary(body)}
    task = add_task(sim, request, PROVIDER, spec, faults.all, model=MODEL, extra=task_extra)
    if faults.fires("500-after-create"):
        return _answer(request, detail(500, "Internal server error"))
    response = JSONResponse(_generation(sim, task, queued=True), status_code=201)
    response.headers["X-RateLimit-Limit"] = RATE_LIMIT
    return _answer(request, response)


@router.get("/v1/generations/{generation_id}")
async def get_generation(request: Request, generation_id: str) -> Response:
    sim = sim_state(request)
    if not authorized(request):
        return _answer(request, detail(401, "Invalid or missing API key"))
    task = sim.get(PROVIDER, generation_id)
    if task is None:
        return _answer(request, detail(404, "Generation not found"))
    if poll_fails(sim, task):
        return _answer(request, detail(500, "Internal server error"))
    return _answer(request, JSONResponse(_generation(sim, task)))
