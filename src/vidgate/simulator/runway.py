"""Simulator twin of Runway's developer API (``api.dev.runwayml.com``), mounted at ``/runway``.

Written to the wire contract in the research (``runway-luma-openai.md`` section 2 and Appendix A;
requests captured from ``runwayml`` 5.24.0), so that vidgate's adapter and the unmodified official
SDK (``RunwayML(base_url=…/runway)``) both work against it:

- ``POST /v1/text_to_video``, ``/v1/image_to_video``, ``/v1/video_to_video``: camelCase JSON,
  validated per model as Runway does (``model`` is the discriminator; ``ratio`` is a pixel size
  such as ``"1280:720"``); a 400 has Runway's shape, ``{"error": "Validation of body failed",
  "issues": [{"code", "message", "path"}]}``. The answer is ``{id, estimatedCost: {credits}}``.
- ``GET /v1/tasks/{id}``: ``PENDING → THROTTLED? → RUNNING (progress 0..1) → SUCCEEDED | FAILED |
  CANCELLED``, ``output`` re-signed on every read, ``failure`` + dotted ``failureCode``.
- ``DELETE /v1/tasks/{id}``: cancels a PENDING/THROTTLED/RUNNING task (refunded unless it was
  RUNNING), deletes any other (a deleted task is 404 afterwards); 204.
- ``GET /v1/organization``: credit balance, tier limits and today's generations.

Every request needs ``Authorization: Bearer …`` (401) and ``X-Runway-Version: 2024-11-06`` (400).
Runway ignores unknown headers; vidgate's adapter sends ``X-Vidgate-Reference``, which this twin
uses to count creates per reference (``/_simulator/stats``).

Faults (``X-Simulator-Fault`` header or ``[sim:…]`` in ``promptText``, plus the global profile),
in Runway's words:

=========================  =======================================================================
``auth``                   401 ``{"error": …}``
``invalid``                400 validation error
``no-credits``             400 ``{"error": "You do not have enough credits to run this task."}``
``429``                    429 (Runway's daily generation quota) with ``Retry-After`` (the
                           ``retry-after=N`` value, else 1 s); ``429-no-retry-after``: without it.
                           Once per request (reference, else body), so a retry goes through
``500-create``             500, nothing created (once per request)
``500-after-create``       the task is created, then 500 (once per request: an SDK retry duplicates)
``moderation``             the task is FAILED from its first read, ``SAFETY.INPUT.TEXT`` (or
                           ``SAFETY.INPUT.IMAGE`` for an image-only request); credits are kept
``moderation-after=N``     FAILED after N s, ``SAFETY.OUTPUT.VIDEO``
``fail[=N]``               FAILED part-way, refunded; N picks the ``failureCode``: 1 ``INTERNAL``
                           (default), 2 ``INTERNAL.BAD_OUTPUT.CODE01``, 3
                           ``THIRD_PARTY.UNAVAILABLE``, 4 ``ASSET.INVALID``, 5
                           ``INPUT_PREPROCESSING.INTERNAL``, 6 no code at all
``throttled``              THROTTLED for the whole latency before it runs
``slow`` / ``hang``        5x latency / stuck RUNNING at 50 %
``500-poll``               the task's first two reads answer 500
``missing-output``         SUCCEEDED with ``output: []``
``expired-url`` …          output faults (``500-download``, ``truncated``, ``corrupt``,
                           ``wrong-duration``, ``wrong-aspect``) act on the signed output file
=========================  =======================================================================

Webhook faults are accepted and ignored: Runway has no webhooks.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ._common import CreateFaults, add_task, bearer_token, poll_fails
from .faults import FAULT_HEADER, Faults, UnknownFault, drawable, parse_faults, strip_markers
from .state import RenderSpec, SimState, SimTask, sim_state

__all__ = ["API_VERSION", "MODELS", "router"]

router = APIRouter()

PROVIDER = "runway"
API_VERSION = "2024-11-06"

T2V, I2V, V2V = "text_to_video", "image_to_video", "video_to_video"

#: Prompt limit in UTF-16 code units, and the largest data URI Runway takes for an image.
_PROMPT_LIMIT = 1000
_DATA_URI_LIMIT = 5 * 1024 * 1024
_SEED_MAX = 4_294_967_295

_NO_CREDITS = "You do not have enough credits to run this task."
_DAILY_LIMIT = (
    "You have exceeded the maximum number of daily generations for this model. "
    "Please wait or contact support to increase your limits."
)

#: ``fail=N`` → (failureCode, failure); None means the task carries no code at all.
_FAIL_CODES: dict[int, tuple[str | None, str]] = {
    1: ("INTERNAL", "An unexpected error occurred."),
    2: ("INTERNAL.BAD_OUTPUT.CODE01", "The generated output did not pass our quality checks."),
    3: ("THIRD_PARTY.UNAVAILABLE", "The model provider is temporarily unavailable."),
    4: ("ASSET.INVALID", "An input asset does not meet the requirements of this model."),
    5: ("INPUT_PREPROCESSING.INTERNAL", "An error occurred while processing your input."),
    6: (None, "An unexpected error occurred."),
}

_GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
_VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")


@dataclass(frozen=True)
class ModelRules:
    """What Runway accepts for one model (runwayml 5.24.0 ``types/*_create_params.py``)."""

    ratios: dict[str, tuple[str, ...]]  # per endpoint; an empty tuple takes any ``W:H`` string
    prompt_required: frozenset[str]
    duration_range: tuple[int, int] | None = None
    durations: tuple[int, ...] | None = None
    duration_required: bool = False
    default_duration: int = 5
    positions: tuple[str, ...] = ("first",)
    seed: bool = True
    audio: bool = False
    negative_prompt: bool = False
    content_moderation: bool = False
    ratio_required: bool = True
    credits_per_second: float = 12.0
    credits_per_second_audio: float | None = None

    def fields(self, endpoint: str) -> set[str]:
        keys = {"model", "promptText", "ratio", "duration"}
        if endpoint == I2V:
            keys.add("promptImage")
        if endpoint == V2V:
            keys |= {"videoUri", "keyframes", "outputFormat", "targetAspectRatio"}
            keys.discard("duration")
        for flag, key in (
            (self.seed, "seed"),
            (self.audio, "audio"),
            (self.negative_prompt, "negativePrompt"),
            (self.content_moderation, "contentModeration"),
        ):
            if flag:
                keys.add(key)
        return keys

    def credits(self, duration: float, audio: bool) -> float:
        rate = self.credits_per_second_audio if audio else None
        return float(round((rate or self.credits_per_second) * duration, 2))


#: Veo 3.1 through Runway (the fast variant differs only in price).
_VEO = ModelRules(
    ratios={T2V: _VEO_RATIOS, I2V: _VEO_RATIOS},
    prompt_required=frozenset({T2V}),
    durations=(4, 6, 8),
    default_duration=8,
    positions=("first", "last"),
    audio=True,
    negative_prompt=True,
)

MODELS: dict[str, ModelRules] = {
    "gen4.5": ModelRules(
        ratios={T2V: ("1280:720", "720:1280"), I2V: _GEN4_RATIOS},
        prompt_required=frozenset({T2V}),
        duration_range=(2, 10),
        duration_required=True,
        content_moderation=True,
        credits_per_second=12,
    ),
    "gen4_turbo": ModelRules(
        ratios={I2V: _GEN4_RATIOS},
        prompt_required=frozenset(),
        duration_range=(2, 10),
        content_moderation=True,
        credits_per_second=5,
    ),
    "veo3.1": replace(_VEO, credits_per_second=20, credits_per_second_audio=40),
    "veo3.1_fast": replace(_VEO, credits_per_second=10, credits_per_second_audio=15),
    "aleph2": ModelRules(
        ratios={V2V: ()},
        prompt_required=frozenset(),
        content_moderation=True,
        ratio_required=False,
        credits_per_second=15,
    ),
}

#: The faults a request to this twin may draw from the global profile (Runway has no webhooks).
_CREATE_FAULTS = drawable(exclude={"moderation-after"}, webhooks=False)


# -- answers in Runway's shapes ----------------------------------------------------------------


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _validation_error(issues: list[dict[str, Any]]) -> JSONResponse:
    return _error(400, "Validation of body failed", issues=issues)


def _issue(code: str, path: list[str | int], message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "path": path, **extra}


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_headers(request: Request, faults: Faults | None = None) -> JSONResponse | None:
    """Runway's gate on every request: a bearer key, then the API version header."""
    if bearer_token(request) is None:
        return _error(401, "Missing or invalid Authorization header. Use 'Bearer <API secret>'.")
    if faults is not None and "auth" in faults:
        return _error(401, "The API secret provided is invalid or has been revoked.")
    version = request.headers.get("x-runway-version")
    if version is None:
        return _error(
            400,
            f"The X-Runway-Version header is required. Set it to {API_VERSION!r}.",
        )
    if version != API_VERSION:
        return _error(
            400,
            f"Unsupported X-Runway-Version {version!r}; supported versions: {API_VERSION}.",
        )
    return None


# -- request validation ------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_uri(value: Any, path: list[str | int], kind: str) -> list[dict[str, Any]]:
    if not isinstance(value, str) or not value:
        return [_issue("invalid_type", path, f"Expected a {kind} URI string")]
    if value.startswith("data:"):
        if not value.startswith(f"data:{kind}/") or ";base64," not in value:
            return [_issue("invalid_format", path, f"Expected a base64 data:{kind}/… URI")]
        if len(value) > _DATA_URI_LIMIT:
            return [_issue("too_big", path, "Data URIs must be at most 5MB")]
        return []
    if value.startswith("runway://"):
        return []
    if not value.startswith("https://"):
        return [_issue("invalid_format", path, "Expected an HTTPS URL, runway:// URI or data URI")]
    if len(value) > 2048:
        return [_issue("too_big", path, "URLs must be at most 2048 characters")]
    return []


def _check_prompt_image(value: Any, rules: ModelRules) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return _check_uri(value, ["promptImage"], "image")
    if not isinstance(value, list) or not value:
        return [_issue("invalid_type", ["promptImage"], "Expected a URI or a list of images")]
    issues: list[dict[str, Any]] = []
    seen: list[str] = []
    for index, item in enumerate(value):
        path: list[str | int] = ["promptImage", index]
        if not isinstance(item, dict):
            issues.append(_issue("invalid_type", path, "Expected an object {uri, position}"))
            continue
        issues += _check_uri(item.get("uri"), [*path, "uri"], "image")
        position = item.get("position")
        if position not in rules.positions:
            issues.append(
                _issue(
                    "invalid_value",
                    [*path, "position"],
                    f"Invalid option: expected one of {'|'.join(rules.positions)}",
                    values=list(rules.positions),
                )
            )
        elif position in seen:
            issues.append(_issue("custom", [*path, "position"], f"Duplicate {position} frame"))
        else:
            seen.append(position)
        extra = set(item) - {"uri", "position"}
        if extra:
            issues.append(
                _issue("unrecognized_keys", path, "Unrecognized keys", keys=sorted(extra))
            )
    if seen and "first" not in seen:
        issues.append(
            _issue(
                "custom", ["promptImage"], "A first frame is required when a last frame is given"
            )
        )
    return issues


def _check_duration(body: dict[str, Any], rules: ModelRules) -> list[dict[str, Any]]:
    if "duration" not in body:
        if rules.duration_required:
            return [_issue("invalid_type", ["duration"], "Required")]
        return []
    value = body["duration"]
    if not _is_int(value):
        return [_issue("invalid_type", ["duration"], "Expected an integer")]
    if rules.durations is not None and value not in rules.durations:
        return [
            _issue(
                "invalid_value",
                ["duration"],
                f"Invalid option: expected one of {'|'.join(map(str, rules.durations))}",
                values=list(rules.durations),
            )
        ]
    if rules.duration_range is not None:
        low, high = rules.duration_range
        if value < low:
            return [_issue("too_small", ["duration"], f"Too small: expected number to be >={low}")]
        if value > high:
            return [_issue("too_big", ["duration"], f"Too big: expected number to be <={high}")]
    return []


def _check_prompt(body: dict[str, Any], rules: ModelRules, endpoint: str) -> list[dict[str, Any]]:
    if "promptText" not in body:
        if endpoint in rules.prompt_required:
            return [_issue("invalid_type", ["promptText"], "Required")]
        return []
    text = body["promptText"]
    if not isinstance(text, str):
        return [_issue("invalid_type", ["promptText"], "Expected a string")]
    if not text.strip():
        return [_issue("too_small", ["promptText"], "promptText must not be empty")]
    if len(text.encode("utf-16-le")) // 2 > _PROMPT_LIMIT:
        return [
            _issue(
                "too_big",
                ["promptText"],
                f"Too big: expected string to have <={_PROMPT_LIMIT} characters",
            )
        ]
    return []


def _check_ratio(body: dict[str, Any], rules: ModelRules, endpoint: str) -> list[dict[str, Any]]:
    allowed = rules.ratios[endpoint]
    if "ratio" not in body:
        return [_issue("invalid_type", ["ratio"], "Required")] if rules.ratio_required else []
    ratio = body["ratio"]
    if allowed and ratio not in allowed:
        return [
            _issue(
                "invalid_value",
                ["ratio"],
                f"Invalid option: expected one of {'|'.join(allowed)}",
                values=list(allowed),
            )
        ]
    if not allowed and not isinstance(ratio, str):
        return [_issue("invalid_type", ["ratio"], "Expected a string")]
    return []


def _validate(body: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    """Zod-style issues for a create body, as Runway reports them; empty when it is valid."""
    model = body.get("model")
    offered = [name for name, rules in MODELS.items() if endpoint in rules.ratios]
    if model not in offered:
        message = f"Invalid option: expected one of {'|'.join(offered)}"
        return [_issue("invalid_value", ["model"], message, values=offered)]
    rules = MODELS[model]
    extra = set(body) - rules.fields(endpoint)
    issues: list[dict[str, Any]] = []
    if extra:
        issues.append(_issue("unrecognized_keys", [], "Unrecognized keys", keys=sorted(extra)))
    issues += _check_prompt(body, rules, endpoint)
    issues += _check_ratio(body, rules, endpoint)
    if endpoint != V2V:
        issues += _check_duration(body, rules)
    if endpoint == I2V:
        if "promptImage" not in body:
            issues.append(_issue("invalid_type", ["promptImage"], "Required"))
        else:
            issues += _check_prompt_image(body["promptImage"], rules)
    if endpoint == V2V:
        if "videoUri" not in body:
            issues.append(_issue("invalid_type", ["videoUri"], "Required"))
        else:
            issues += _check_uri(body["videoUri"], ["videoUri"], "video")
    if "seed" in body and not (_is_int(body["seed"]) and 0 <= body["seed"] <= _SEED_MAX):
        issues.append(
            _issue("invalid_type", ["seed"], f"Expected an integer from 0 to {_SEED_MAX}")
        )
    if "audio" in body and not isinstance(body["audio"], bool):
        issues.append(_issue("invalid_type", ["audio"], "Expected a boolean"))
    if "negativePrompt" in body and not isinstance(body["negativePrompt"], str):
        issues.append(_issue("invalid_type", ["negativePrompt"], "Expected a string"))
    moderation = body.get("contentModeration")
    if moderation is not None and (
        not isinstance(moderation, dict)
        or moderation.get("publicFigureThreshold", "auto") not in ("auto", "low")
    ):
        issues.append(
            _issue(
                "invalid_value",
                ["contentModeration", "publicFigureThreshold"],
                "Invalid option: expected one of auto|low",
            )
        )
    return issues


# -- the task object ---------------------------------------------------------------------------


def _size(ratio: Any) -> tuple[int, int]:
    """``"1280:720"`` → (1280, 720); anything else (aleph2 takes free strings) → 1280x720."""
    match = re.fullmatch(r"(\d{2,4}):(\d{2,4})", ratio) if isinstance(ratio, str) else None
    if match is None:
        return 1280, 720
    return int(match[1]), int(match[2])


def _task_json(sim: SimState, task: SimTask, now: float) -> dict[str, Any]:
    """The task as ``GET /v1/tasks/{id}`` shows it at ``now``."""
    extra = task.extra
    body: dict[str, Any] = {"id": task.id, "createdAt": _iso(task.created_at)}
    estimate = {"credits": extra["credits"]}
    charged = round(float(extra["credits"]))
    timeline = task.at(now)
    if timeline.phase == "canceled":
        refunded = extra.get("cancel_refunded", True)
        return {**body, "status": "CANCELLED", "cost": {"credits": 0 if refunded else charged}}
    if "moderation" in task.faults:
        kind = "TEXT" if "promptText" in extra["body"] else "IMAGE"
        return {
            **body,
            "status": "FAILED",
            "cost": {"credits": charged},  # safety-flagged inputs are non-refundable
            "failure": "The input did not pass our content moderation. Try another input.",
            "failureCode": f"SAFETY.INPUT.{kind}",
        }
    if timeline.phase == "failed":
        if timeline.failure == "moderation":
            return {
                **body,
                "status": "FAILED",
                "cost": {"credits": charged},
                "failure": "The generated output did not pass our content moderation.",
                "failureCode": "SAFETY.OUTPUT.VIDEO",
            }
        code, failure = _FAIL_CODES.get(int(task.faults.value("fail", 1)), _FAIL_CODES[1])
        failed = {**body, "status": "FAILED", "cost": {"credits": 0}, "failure": failure}
        if code is not None:
            failed["failureCode"] = code
        return failed
    if timeline.phase == "succeeded":
        output = [] if "missing-output" in task.faults else [sim.signed_url(task)]
        return {**body, "status": "SUCCEEDED", "cost": {"credits": charged}, "output": output}
    if timeline.phase == "running":
        return {
            **body,
            "status": "RUNNING",
            "estimatedCost": estimate,
            "progress": timeline.progress,
        }
    status = "THROTTLED" if timeline.phase == "throttled" else "PENDING"
    return {**body, "status": status, "estimatedCost": estimate}


async def _create(request: Request, endpoint: str) -> Response:
    sim = sim_state(request)
    gate = _check_headers(request)
    if gate is not None:
        return gate
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return _error(400, "Request body is not valid JSON")
    if not isinstance(body, dict):
        return _validation_error([_issue("invalid_type", [], "Expected an object")])
    prompt = body.get("promptText") if isinstance(body.get("promptText"), str) else None
    try:
        requested = parse_faults(request.headers.get(FAULT_HEADER), prompt)
    except UnknownFault as exc:
        return _error(400, str(exc))
    create = CreateFaults.draw(sim, request, raw, requested, _CREATE_FAULTS)
    faults, fires = create.all, create.fires
    gate = _check_headers(request, faults)
    if gate is not None:
        return gate
    if "invalid" in faults:
        return _validation_error([_issue("custom", ["body"], "Simulated invalid request")])
    issues = _validate(body, endpoint)
    if issues:
        return _validation_error(issues)
    if "no-credits" in faults:
        return _error(400, _NO_CREDITS)
    if fires("429"):
        after = faults.value("retry-after", faults.value("429", 1.0))
        return JSONResponse(
            {"error": _DAILY_LIMIT}, status_code=429, headers={"Retry-After": f"{after:g}"}
        )
    if fires("429-no-retry-after"):
        return _error(429, _DAILY_LIMIT)
    if fires("500-create"):
        return _error(500, "An internal error occurred. Please try again later.")

    rules = MODELS[body["model"]]
    duration = body.get("duration", rules.default_duration)
    audio = bool(body.get("audio", False))
    width, height = _size(body.get("ratio"))
    seed = body.get("seed")
    spec = RenderSpec(
        prompt=strip_markers(prompt) if prompt else f"{body['model']} {endpoint}",
        duration=float(duration),
        width=width,
        height=height,
        fps=24,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        audio=audio,
    )
    credits = rules.credits(spec.duration, audio)
    task_extra = {"endpoint": endpoint, "body": _summary(body), "credits": credits}
    task = add_task(sim, request, PROVIDER, spec, faults, model=body["model"], extra=task_extra)
    if fires("500-after-create"):
        return _error(500, "An internal error occurred. Please try again later.")
    return JSONResponse({"id": task.id, "estimatedCost": {"credits": credits}})


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """The request body without bulky data URIs (kept with the task for tests to inspect)."""

    def short(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            head, _, payload = value.partition(",")
            return f"{head},<{len(payload) * 3 // 4} bytes>"
        if isinstance(value, list):
            return [short(v) for v in value]
        if isinstance(value, dict):
            return {k: short(v) for k, v in value.items()}
        return value

    return {k: short(v) for k, v in body.items()}


# -- routes ------------------------------------------------------------------------------------


@router.post("/v1/text_to_video")
async def text_to_video(request: Request) -> Response:
    return await _create(request, T2V)


@router.post("/v1/image_to_video")
async def image_to_video(request: Request) -> Response:
    return await _create(request, I2V)


@router.post("/v1/video_to_video")
async def video_to_video(request: Request) -> Response:
    return await _create(request, V2V)


def _request_faults(request: Request) -> Faults | JSONResponse:
    try:
        return parse_faults(request.headers.get(FAULT_HEADER))
    except UnknownFault as exc:
        return _error(400, str(exc))


@router.get("/v1/tasks/{task_id}")
async def get_task(request: Request, task_id: str) -> Response:
    sim = sim_state(request)
    faults = _request_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    gate = _check_headers(request, faults)
    if gate is not None:
        return gate
    task = sim.get(PROVIDER, task_id)
    if task is None:
        return _error(404, "Task not found")
    if poll_fails(sim, task, faults):
        return _error(500, "An internal error occurred. Please try again later.")
    return JSONResponse(_task_json(sim, task, time.time()))


@router.delete("/v1/tasks/{task_id}")
async def delete_task(request: Request, task_id: str) -> Response:
    sim = sim_state(request)
    faults = _request_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    gate = _check_headers(request, faults)
    if gate is not None:
        return gate
    task = sim.get(PROVIDER, task_id)
    if task is None:
        return _error(404, "Task not found")
    now = time.time()
    status = _task_json(sim, task, now)["status"]
    if status in ("PENDING", "THROTTLED", "RUNNING"):
        task.canceled_at = now
        task.extra["cancel_refunded"] = status != "RUNNING"  # no refund once it runs
    else:
        task.deleted = True
    return Response(status_code=204)


@router.get("/v1/organization")
async def organization(request: Request) -> Response:
    sim = sim_state(request)
    faults = _request_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    gate = _check_headers(request, faults)
    if gate is not None:
        return gate
    today = time.time() - 24 * 3600
    used: dict[str, int] = {}
    spent = 0.0
    now = time.time()
    for task in sim.tasks.values():
        if task.provider != PROVIDER:
            continue
        if task.created_at >= today and task.model:
            used[task.model] = used.get(task.model, 0) + 1
        # Credits are held at create and the final cost.credits is kept: refunds come back.
        cost = _task_json(sim, task, now).get("cost")
        spent += float((cost or {}).get("credits", task.extra.get("credits", 0)))
    return JSONResponse(
        {
            "creditBalance": max(0, 100_000 - int(spent)),
            "tier": {
                "maxMonthlyCreditSpend": 10_000,
                "models": {
                    name: {"maxConcurrentGenerations": 2, "maxDailyGenerations": 200}
                    for name in MODELS
                },
            },
            "usage": {"models": {name: {"dailyGenerations": n} for name, n in used.items()}},
        }
    )
