"""Simulator twin of Luma's Dream Machine API (``api.lumalabs.ai/dream-machine/v1``), mounted at
``/luma``; also the helpers the Luma Agents twin (``luma_agents.py``) shares with it.

Written to the wire contract in the research (``runway-luma-openai.md`` section 3; requests
captured from ``lumaai`` 1.21.0), so that vidgate's adapter and the unmodified official SDK
(``LumaAI(base_url=…/luma/dream-machine/v1)``) both work against it:

- ``POST /dream-machine/v1/generations/video`` (and the older ``POST …/generations``): snake_case
  JSON; text-to-video, image keyframes (``keyframes.frame0`` = start, ``frame1`` = end, each
  ``{type: "image", url}`` or ``{type: "generation", id}``: extend / reverse extend / interpolate
  a completed generation), ``duration`` ``"5s"``/``"9s"``, ``loop``, ``callback_url``. Answers
  **201** with the whole Generation. Validation errors are 400 ``{"detail": …}`` in Luma's
  documented words ("Prompt is too short, minimum length is 3 characters", "Loop is not
  supported for keyframes", …).
- ``GET …/generations/{id}``: ``state`` ``queued → dreaming → completed | failed``, no progress,
  ``failure_reason`` text only, ``assets.video`` (a signed, expiring URL) when completed.
- ``GET …/generations?limit=&offset=``: newest first, ``{generations, count, has_more, limit,
  offset}``.
- ``DELETE …/generations/{id}``: deletes (whatever its state; it is 404 afterwards); 204.
- ``GET …/credits`` (``credit_balance`` in USD cents) and ``GET …/ping``.
- ``callback_url``: the whole Generation is POSTed, unsigned, on every state change after
  ``queued`` (``dreaming``, ``completed``, ``failed``), retried on a non-2xx answer.

Every request needs ``Authorization: Bearer …`` (401). Luma ignores unknown headers; vidgate's
adapter sends ``X-Vidgate-Reference``, which this twin uses to count creates per reference
(``/_simulator/stats``).

Faults (``X-Simulator-Fault`` header or ``[sim:…]`` in the prompt, plus the global profile), in
Luma's words. Luma documents no code or status for several of them; where the twin had to choose,
the table says so:

=========================  =======================================================================
``auth``                   401 ``{"detail": "Invalid API key is provided"}``
``invalid``                400 ``{"detail": "Invalid request: …"}``
``no-credits``             **400** ``{"detail": "Insufficient credits…"}`` (Luma's status for this
                           is unconfirmed; the Agents API uses 402, see ``luma_agents.py``)
``429``                    429 with ``Retry-After`` (``retry-after=N``, else 1 s; body and header
                           unconfirmed for Dream Machine); ``429-no-retry-after``: without it.
                           Once per request (reference, else body), so a retry goes through
``500-create``             500, nothing created (once per request)
``500-after-create``       the generation is created, then 500 (once per request)
``moderation``             created, then ``failed`` from its first read: "Contains blacklisted
                           words" (or "Frame moderation failed" when an image keyframe was given);
                           refunded, as every failed generation is
``moderation-after=N``     ``failed`` after N s: "Advanced prompt moderation failed" (Luma
                           documents no wording for moderation of the output itself)
``fail``                   ``failed`` part-way: "Job failed"
``slow`` / ``hang``        5x latency / stuck ``dreaming``; ``throttled`` reads as ``queued``
``500-poll``               the generation's first two reads answer 500
``missing-output``         ``completed`` with ``assets.video: null``
``expired-url`` …          output faults (``500-download``, ``truncated``, ``corrupt``,
                           ``wrong-duration``, ``wrong-aspect``) act on the signed output file
``webhook-*``              callbacks dropped, duplicated, late; ``webhook-forged`` (the callback
                           is unsigned) delivers to the callback URL with its last path segment,
                           vidgate's per-attempt token, tampered
=========================  =======================================================================
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ._common import REFERENCE_HEADER, add_task, bearer_token, poll_fails
from ._common import CreateFaults as SharedCreateFaults
from .faults import FAULT_HEADER, Faults, UnknownFault, drawable, parse_faults, strip_markers
from .state import RenderSpec, SimState, SimTask, Timeline, sim_state

__all__ = [
    "CREATE_FAULTS",
    "REFERENCE_HEADER",
    "CreateFaults",
    "authorized",
    "detail",
    "iso",
    "load_json",
    "read_faults",
    "render_spec",
    "router",
    "timeline",
]

router = APIRouter()

PROVIDER = "luma"
PREFIX = "/dream-machine/v1"

MODELS = ("ray-2", "ray-flash-2")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
#: Luma's resolution names → the simulator's render tiers.
RESOLUTIONS = {"540p": "540p", "720p": "720p", "1080p": "1080p", "4k": "2160p"}
DURATIONS = {"5s": 5.0, "9s": 9.0}
_PROMPT_MIN, _PROMPT_MAX = 3, 5000
_LIST_DEFAULT, _LIST_MAX = 10, 100
#: How long a callback watcher follows a generation that never ends (``hang``).
_WATCH_LIMIT = 600.0

#: The faults a create may draw from the global profile (they stay with the generation).
CREATE_FAULTS = drawable(exclude={"500-poll"})
_ONCE_PER_REQUEST = frozenset({"429", "429-no-retry-after", "500-create", "500-after-create"})

_DM_FAILURES = {
    "fail": "Job failed",
    "moderation": "Advanced prompt moderation failed",
    "moderation-input": "Contains blacklisted words",
    "moderation-frame": "Frame moderation failed",
}

# -- helpers shared with the Agents twin --------------------------------------------------------


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error in Luma's shape (both APIs): ``{"detail": "<message>"}``."""
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def authorized(request: Request) -> bool:
    """Whether the request carries ``Authorization: Bearer <something>``."""
    return bearer_token(request) is not None


def iso(timestamp: float) -> str:
    """``2026-05-01T12:00:00.000Z``, as Luma writes ``created_at``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_json(raw: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, or None if it is not one."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def read_faults(request: Request, prompt: Any) -> Faults:
    """The faults a request names (header and prompt markers). Raises ``UnknownFault``."""
    text = prompt if isinstance(prompt, str) else None
    return parse_faults(request.headers.get(FAULT_HEADER), text)


class CreateFaults(SharedCreateFaults):
    """A create's faults (both Luma APIs). Of those a request asks for, only the
    ``_ONCE_PER_REQUEST`` ones fire once per request key; the rest fire every time."""

    @classmethod
    def of(cls, sim: SimState, request: Request, raw: bytes, requested: Faults) -> CreateFaults:
        return cls.draw(sim, request, raw, requested, CREATE_FAULTS)

    def _once(self, name: str) -> bool:
        return name not in _ONCE_PER_REQUEST or super()._once(name)

    def gate(self, *, no_credits_status: int, no_credits: str) -> JSONResponse | None:
        """The answer a create gets instead of a generation, if a fault says so."""
        if self.fires("auth"):
            return detail(401, "Invalid API key is provided")
        if self.fires("invalid"):
            return detail(400, "Invalid request: simulated validation failure")
        if self.fires("no-credits"):
            return detail(no_credits_status, no_credits)
        faults = self.all
        if self.fires("429"):
            after = faults.value("retry-after", faults.value("429", 1.0))
            return detail(429, "Too many requests", headers={"Retry-After": f"{after:g}"})
        if self.fires("429-no-retry-after"):
            return detail(429, "Too many requests")
        if self.fires("500-create"):
            return detail(500, "Internal server error")
        return None


def render_spec(
    prompt: Any, fallback: str, duration: float, resolution: str, aspect: str
) -> RenderSpec:
    """What the output shows: the prompt without its fault markers, at the asked size."""
    text = strip_markers(prompt) if isinstance(prompt, str) and prompt.strip() else fallback
    return RenderSpec.from_request(text, duration, resolution, aspect, fps=24)


def timeline(task: SimTask, now: float | None = None) -> Timeline:
    """The task's state, with create-time ``moderation`` (a generation that fails at once)."""
    if "moderation" in task.faults and task.canceled_at is None:
        return Timeline("failed", 0.0, "moderation-input")
    return task.at(now)


# -- the Generation object ---------------------------------------------------------------------


def _state(task: SimTask, now: float | None = None) -> tuple[str, str | None]:
    """Dream Machine's ``state`` and ``failure_reason`` for a task."""
    point = timeline(task, now)
    if point.phase == "succeeded":
        return "completed", None
    if point.phase in ("failed", "canceled"):
        failure = point.failure or "fail"
        if failure == "moderation-input" and task.extra.get("image_keyframe"):
            failure = "moderation-frame"
        return "failed", _DM_FAILURES.get(failure, _DM_FAILURES["fail"])
    if point.phase == "running":
        return "dreaming", None
    return "queued", None


def generation(sim: SimState, task: SimTask, *, state: str | None = None) -> dict[str, Any]:
    """The task as Luma's Generation object (``state`` overrides the timeline's)."""
    current, reason = _state(task)
    if state is not None:
        current, reason = state, None
    assets: dict[str, str | None] = {"video": None, "image": None, "progress_video": None}
    if current == "completed" and "missing-output" not in task.faults:
        assets["video"] = sim.signed_url(task)
        assets["image"] = sim.signed_url(task, suffix="jpg")
    return {
        "id": task.id,
        "generation_type": "video",
        "state": current,
        "failure_reason": reason,
        "created_at": iso(task.created_at),
        "model": task.model,
        "assets": assets,
        "request": task.extra["request"],
    }


# -- validation --------------------------------------------------------------------------------


def _check_ref(sim: SimState, ref: Any, name: str) -> str | None:
    """An error message for a bad keyframe reference, or None."""
    if not isinstance(ref, dict):
        return f"Invalid request: keyframes.{name} must be an object"
    kind = ref.get("type")
    if kind == "image":
        url = ref.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return f"Invalid request: keyframes.{name}.url must be a public image URL"
        return None
    if kind == "generation":
        gen_id = ref.get("id")
        source = sim.get(PROVIDER, gen_id) if isinstance(gen_id, str) else None
        if source is None:
            return f"Generation {gen_id} not found"
        if _state(source)[0] != "completed":
            return f"Generation {gen_id} is not completed"
        return None
    return f"Invalid request: keyframes.{name}.type must be 'image' or 'generation'"


_LOOP_ERRORS: dict[tuple[str | None, str | None], str] = {
    ("image", "image"): "Loop is not supported for keyframes",
    (None, "image"): "Loop is not supported for end frame",
    (None, "generation"): "Loop is not supported for extend reverse",
    ("generation", "image"): "Loop is not supported for interpolate video to image",
    ("image", "generation"): "Loop is not supported for interpolate image to video",
    ("generation", "generation"): "Loop is not supported for interpolate between two videos",
}


def _kind(ref: Any) -> str | None:
    kind = ref.get("type") if isinstance(ref, dict) else None
    return kind if isinstance(kind, str) else None


def _validate_keyframes(sim: SimState, body: dict[str, Any]) -> str | None:
    keyframes = body.get("keyframes")
    if keyframes is None:
        return None
    if not isinstance(keyframes, dict):
        return "Invalid request: keyframes must be an object"
    frame0, frame1 = keyframes.get("frame0"), keyframes.get("frame1")
    if frame0 is None and frame1 is None:
        return "No keyframes provided"
    for name, ref in (("frame0", frame0), ("frame1", frame1)):
        if ref is not None:
            problem = _check_ref(sim, ref, name)
            if problem:
                return problem
    if body.get("loop") is True:
        return _LOOP_ERRORS.get((_kind(frame0), _kind(frame1)))
    return None


def _validate_prompt(body: dict[str, Any]) -> str | None:
    frames = body.get("keyframes") or {}
    has_image = any(_kind(ref) == "image" for ref in frames.values())
    prompt = body.get("prompt")
    if prompt is None:
        return None if has_image else "Prompt is required"
    if not isinstance(prompt, str):
        return "Invalid request: prompt must be a string"
    if len(prompt) < _PROMPT_MIN:
        return f"Prompt is too short, minimum length is {_PROMPT_MIN} characters"
    if len(prompt) > _PROMPT_MAX:
        return f"Prompt is too long, maximum length is {_PROMPT_MAX} characters"
    return None


def _validate(sim: SimState, body: dict[str, Any]) -> str | None:
    """Luma's 400 message for a bad create body, or None if it is valid."""
    if body.get("generation_type", "video") != "video":
        return "Unknown request type"
    if body.get("model") not in MODELS:
        return f"Invalid request: model should be {' or '.join(repr(m) for m in MODELS)}"
    if not isinstance(body.get("loop", False), bool):
        return "Invalid request: loop must be a boolean"
    problem = _validate_keyframes(sim, body) or _validate_prompt(body)
    if problem:
        return problem
    if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
        return "Invalid request: aspect_ratio should be " + ", ".join(ASPECT_RATIOS)
    if body.get("resolution", "720p") not in RESOLUTIONS:
        return "Invalid request: Input should be " + ", ".join(f"'{r}'" for r in RESOLUTIONS)
    if body.get("duration", "5s") not in DURATIONS:
        return "Invalid request: Input should be " + " or ".join(f"'{d}'" for d in DURATIONS)
    callback = body.get("callback_url")
    if callback is not None and (
        not isinstance(callback, str) or not callback.startswith(("https://", "http://"))
    ):
        return "Invalid request: callback_url must be a URL"
    return None


def _echo(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the Generation's ``request`` field shows it (defaults filled in)."""
    return {
        "generation_type": "video",
        "model": body["model"],
        "prompt": body.get("prompt"),
        "aspect_ratio": body.get("aspect_ratio", "16:9"),
        "resolution": body.get("resolution", "720p"),
        "duration": body.get("duration", "5s"),
        "loop": body.get("loop", False),
        "keyframes": body.get("keyframes"),
        "callback_url": body.get("callback_url"),
        "concepts": body.get("concepts"),
    }


# -- callbacks ---------------------------------------------------------------------------------


def _forged(url: str) -> str:
    """The callback URL with its last path segment (the receiver's secret token) tampered."""
    parts = urlsplit(url)
    head, _, last = parts.path.rpartition("/")
    if not last:
        return url
    tampered = last[:-4] + "AAAA" if len(last) > 4 else "AAAA"
    return urlunsplit(parts._replace(path=f"{head}/{tampered}"))


def _start_watcher(sim: SimState, task: SimTask, url: str) -> None:
    """POST the Generation to ``url`` on every state change after ``queued``: a look on the
    simulator's timer at each moment the timeline may change, until it ends or is deleted."""
    target = _forged(url) if "webhook-forged" in task.faults else url
    limit = task.created_at + _WATCH_LIMIT
    last = "queued"

    def check(now: float) -> float | None:
        nonlocal last
        if task.deleted:
            return None
        state, _ = _state(task, now)
        if state != last:
            last = state
            sim.send_webhook(target, generation(sim, task), faults=task.faults, kind="luma")
            if state in ("completed", "failed"):
                return None
        return task.next_look(now, limit)

    sim.watch(task, check)


# -- routes ------------------------------------------------------------------------------------


@router.post(PREFIX + "/generations/video")
async def create_video(request: Request) -> Response:
    return await _create(request)


@router.post(PREFIX + "/generations")
async def create_legacy(request: Request) -> Response:
    """The older create path (lumaai ≤ 1.4 and the original docs)."""
    return await _create(request)


async def _create(request: Request) -> Response:
    sim = sim_state(request)
    if not authorized(request):
        return detail(401, "Invalid API key is provided")
    raw = await request.body()
    body = load_json(raw)
    if body is None:
        return detail(400, "Invalid request: the body must be a JSON object")
    try:
        requested = read_faults(request, body.get("prompt"))
    except UnknownFault as exc:
        return detail(400, str(exc))
    faults = CreateFaults.of(sim, request, raw, requested)
    gate = faults.gate(
        no_credits_status=400,
        no_credits="Insufficient credits: your balance is too low for this generation",
    )
    if gate is not None:
        return gate
    problem = _validate(sim, body)
    if problem:
        return detail(400, problem)

    frames = body.get("keyframes") or {}
    image_keyframe = any(isinstance(r, dict) and r.get("type") == "image" for r in frames.values())
    spec = render_spec(
        body.get("prompt"),
        f"{body['model']} keyframes",
        DURATIONS[body.get("duration", "5s")],
        RESOLUTIONS[body.get("resolution", "720p")],
        body.get("aspect_ratio", "16:9"),
    )
    task_extra = {"request": _echo(body), "image_keyframe": image_keyframe}
    task = add_task(sim, request, PROVIDER, spec, faults.all, model=body["model"], extra=task_extra)
    callback = body.get("callback_url")
    if isinstance(callback, str):
        _start_watcher(sim, task, callback)
    if faults.fires("500-after-create"):
        return detail(500, "Internal server error")
    return JSONResponse(generation(sim, task, state="queued"), status_code=201)


@router.get(PREFIX + "/generations")
async def list_generations(
    request: Request, limit: int = _LIST_DEFAULT, offset: int = 0
) -> Response:
    sim = sim_state(request)
    if not authorized(request):
        return detail(401, "Invalid API key is provided")
    if limit < 1 or offset < 0:
        return detail(400, "Invalid request: limit must be positive and offset not negative")
    limit = min(limit, _LIST_MAX)
    mine = sorted(
        (t for t in sim.tasks.values() if t.provider == PROVIDER and not t.deleted),
        key=lambda t: t.created_at,
        reverse=True,
    )
    page = mine[offset : offset + limit]
    return JSONResponse(
        {
            "generations": [generation(sim, t) for t in page],
            "count": len(page),
            "has_more": offset + limit < len(mine),
            "limit": limit,
            "offset": offset,
        }
    )


@router.get(PREFIX + "/generations/{generation_id}")
async def get_generation(request: Request, generation_id: str) -> Response:
    sim = sim_state(request)
    if not authorized(request):
        return detail(401, "Invalid API key is provided")
    task = sim.get(PROVIDER, generation_id)
    if task is None:
        return detail(404, "Generation not found")
    if poll_fails(sim, task):
        return detail(500, "Internal server error")
    return JSONResponse(generation(sim, task))


@router.delete(PREFIX + "/generations/{generation_id}")
async def delete_generation(request: Request, generation_id: str) -> Response:
    sim = sim_state(request)
    if not authorized(request):
        return detail(401, "Invalid API key is provided")
    task = sim.get(PROVIDER, generation_id)
    if task is None:
        return detail(404, "Generation not found")
    task.deleted = True
    if _state(task)[0] not in ("completed", "failed"):
        task.canceled_at = time.time()  # a deleted generation stops dreaming
    return Response(status_code=204)


@router.get(PREFIX + "/credits")
async def credits(request: Request) -> Response:
    if not authorized(request):
        return detail(401, "Invalid API key is provided")
    return JSONResponse({"credit_balance": 100_000.0})


@router.get(PREFIX + "/ping")
async def ping(request: Request) -> Response:
    return JSONResponse({"message": "pong"})
