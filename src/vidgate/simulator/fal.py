"""Simulator twin of fal's queue API (``queue.fal.run``), mounted at ``/fal``.

Written to the wire contract in the research (``replicate-fal-veo.md`` section 2; requests as
``fal-client`` 1.0.3 sends them), so that vidgate's adapter and the unmodified official client
(its ``QUEUE_URL_FORMAT`` pointed at ``…/fal/``) both work against it. ``https://queue.fal.run``
becomes ``<simulator>/fal``:

- ``POST /fal/{endpoint id}`` (the full id, e.g. ``fal-ai/kling-video/v2.1/master/text-to-video``)
  with the flat input JSON, optionally ``?fal_webhook=<url>``. The answer is ``{status: IN_QUEUE,
  request_id, gateway_request_id, response_url, status_url, cancel_url, queue_position}``, and
  those URLs use only the first two path segments (``/fal/fal-ai/kling-video/requests/{id}…``).
- ``GET …/requests/{id}/status[?logs=1]``: ``IN_QUEUE`` (``queue_position``, 0-indexed) →
  ``IN_PROGRESS`` → ``COMPLETED``; HTTP 202 until completed, 200 at ``COMPLETED``. ``logs`` is
  ``null`` unless asked for (``logs=1`` / ``logs=true``); the log text carries the progress
  ("Generating video 40%"), since fal has no progress field. ``COMPLETED`` carries ``metrics``
  and, for a failed request, ``error`` and ``error_type``. ``…/status/stream`` is the same as SSE.
- ``GET …/requests/{id}``: the result (``{"video": {"url", "content_type", "file_name"}}``, plus
  ``seed`` where the endpoint returns one) or the stored error, replayed with its status code in
  one of fal's two formats: a ``detail`` list (422: validation, content policy) or a flat
  ``{"detail": "…", "error_type": "…"}`` with ``X-Fal-Error-Type`` (runner failures).
- ``PUT …/requests/{id}/cancel``: 202 ``CANCELLATION_REQUESTED`` (the request then completes with
  an error), 400 ``ALREADY_COMPLETED``, 404 ``NOT_FOUND``.
- ``GET /fal/.well-known/jwks.json``: this app's own Ed25519 public keys (two: an older one that
  is still published, and the one that signs; one ``x`` carries base64 ``=`` padding, as fal's
  reportedly does). Webhooks are POSTed when a request completes, ``{request_id,
  gateway_request_id, status: OK | ERROR, payload, error?}``, signed as fal signs them: headers
  ``X-Fal-Webhook-Request-Id``, ``-User-Id``, ``-Timestamp`` and ``-Signature`` (hex Ed25519 over
  ``request_id \\n user_id \\n timestamp \\n hex(sha256(body))``).

Inputs are validated per endpoint (the table :data:`ENDPOINTS`, written from fal's generated
input types, independent of vidgate's catalogue so that it checks the adapter's mapping). As on
fal, the queue accepts any JSON object: validation happens when the request runs, so an invalid
input is a request that completes at once with a 422 ``detail`` list. This twin is stricter than
fal about unknown fields (``extra_forbidden``), to catch mapping mistakes. Every request needs
``Authorization: Key <key_id:key_secret>`` (401). vidgate's adapter sends ``X-Vidgate-Reference``,
which counts creates per reference (``/_simulator/stats``).

Faults (``X-Simulator-Fault`` header or ``[sim:…]`` in ``prompt``, plus the global profile), in
fal's words. Choices the research marks unconfirmed are marked so here too:

=========================  =======================================================================
``auth``                   401 ``{"detail": …}``
``no-credits``             403 "User is locked. Reason: Exhausted balance…" (status unconfirmed)
``invalid``                accepted, then COMPLETED with a 422 ``detail`` list (``value_error``)
``429``                    429 with ``Retry-After`` (the ``retry-after=N`` value, else 1 s);
                           ``429-no-retry-after`` without it. Once per request (reference, else
                           body), so a retry goes through
``500-create``             500, nothing created (once per request)
``500-after-create``       the request is created, then 500 (once per request)
``moderation``             COMPLETED at once; result 422 ``content_policy_violation`` on
                           ``["body", "prompt"]``, categories ``["violence"]``
``moderation-after=N``     COMPLETED after N s; 422 ``content_policy_violation`` on
                           ``["output", "video"]`` (an output check; its loc is unconfirmed)
``fail[=N]``               COMPLETED part-way with an error: 1 ``runner_server_error`` (500,
                           default), 2 ``request_timeout`` (504), 3 ``runner_disconnected``
                           (503), 4 ``internal_error`` (500), 5 a model 422 ``detail`` list
                           (``file_download_error`` on the image)
``throttled``              IN_QUEUE for the whole latency (fal queues instead of refusing)
``slow`` / ``hang``        5x latency / stuck IN_PROGRESS at 50 %
``500-poll``               the request's first two status reads answer 500
``missing-output``         COMPLETED, result 200 without ``video``
``expired-url`` …          output faults (``500-download``, ``truncated``, ``corrupt``,
                           ``wrong-duration``, ``wrong-aspect``) act on the signed output file
``webhook-*``              ``drop``, ``duplicate``, ``late=N``, ``forged`` (signature tampered)
=========================  =======================================================================

A cancelled request completes with ``error_type: "request_cancelled"`` and its result answers
400; fal documents neither (unconfirmed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import json
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .app import sim_state
from .faults import FAULT_HEADER, Faults, UnknownFault, parse_faults, strip_markers
from .state import RenderSpec, SimState, SimTask

__all__ = [
    "CANCEL_ERROR_TYPE",
    "ENDPOINTS",
    "JWKS_PATH",
    "router",
    "sign_webhook",
    "signing_key",
    "webhook_headers",
]

router = APIRouter()

PROVIDER = "fal"
REFERENCE_HEADER = "x-vidgate-reference"
JWKS_PATH = "/.well-known/jwks.json"
#: How a cancelled request's error is typed (fal does not document it).
CANCEL_ERROR_TYPE = "request_cancelled"
_DOCS = "https://docs.fal.ai/errors"
_CONTENT_POLICY = "content_policy_violation"
_LOCKED = (
    "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
)

#: ``fail=N`` → (error_type, HTTP status, message); 5 is a model's own 422 (a ``detail`` list).
_FAIL_TYPES: dict[int, tuple[str, int, str]] = {
    1: ("runner_server_error", 500, "Internal server error"),
    2: ("request_timeout", 504, "Request timed out"),
    3: ("runner_disconnected", 503, "Runner disconnected"),
    4: ("internal_error", 500, "Internal error"),
}

_CREATE_FAULTS = [
    "auth",
    "invalid",
    "no-credits",
    "429",
    "429-no-retry-after",
    "500-create",
    "500-after-create",
    "moderation",
    "slow",
    "hang",
    "fail",
    "throttled",
    "500-poll",
    "500-download",
    "expired-url",
    "missing-output",
    "truncated",
    "corrupt",
    "wrong-duration",
    "wrong-aspect",
    "webhook-drop",
    "webhook-duplicate",
    "webhook-forged",
]

#: A webhook watcher gives up on a request this long after its slowest possible finish.
_WATCH_GRACE = 600.0
_WATCH_STEP = 0.05
_watchers: set[asyncio.Task[None]] = set()


# -- what each endpoint takes --------------------------------------------------------------------

Kind = Literal["text", "enum", "bool", "int", "number", "url"]


@dataclass(frozen=True)
class Field:
    """One input field's type and limits, as fal's generated input types give them."""

    kind: Kind
    values: tuple[str, ...] = ()
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Endpoint:
    """One fal endpoint: its inputs and what it renders when a field is left out."""

    fields: dict[str, Field]
    required: frozenset[str]
    default_duration: str
    #: The output's short side when the endpoint has no ``resolution`` input (or it is left out).
    default_resolution: str
    default_aspect: str = "16:9"
    default_audio: bool = False
    #: The input whose image the output follows (image-to-video without an aspect input).
    image_field: str | None = None
    #: Whether the result carries the seed it used.
    returns_seed: bool = False

    @property
    def aspects(self) -> tuple[str, ...]:
        found = self.fields.get("aspect_ratio")
        return tuple(v for v in found.values if ":" in v) if found else (self.default_aspect,)


_TEXT = Field("text")
_BOOL = Field("bool")
_URL = Field("url")
_SEED = Field("int", minimum=-1, maximum=2**32 - 1)


def _enum(*values: str) -> Field:
    return Field("enum", values=values)


_VEO_FIELDS = {
    "prompt": _TEXT,
    "aspect_ratio": _enum("16:9", "9:16"),
    "duration": _enum("4s", "6s", "8s"),
    "resolution": _enum("720p", "1080p", "4k"),
    "generate_audio": _BOOL,
    "negative_prompt": _TEXT,
    "auto_fix": _BOOL,
    "safety_tolerance": _enum("1", "2", "3", "4", "5", "6"),
    "seed": _SEED,
}
_VEO_T2V = Endpoint(
    fields=_VEO_FIELDS,
    required=frozenset({"prompt"}),
    default_duration="8s",
    default_resolution="720p",
    default_audio=True,
)
_VEO_I2V = Endpoint(
    fields={**_VEO_FIELDS, "aspect_ratio": _enum("auto", "16:9", "9:16"), "image_url": _URL},
    required=frozenset({"prompt", "image_url"}),
    default_duration="8s",
    default_resolution="720p",
    default_audio=True,
    image_field="image_url",
)
_KLING_T2V = Endpoint(
    fields={
        "prompt": _TEXT,
        "aspect_ratio": _enum("16:9", "9:16", "1:1"),
        "duration": _enum("5", "10"),
        "negative_prompt": _TEXT,
        "cfg_scale": Field("number", minimum=0, maximum=1),
    },
    required=frozenset({"prompt"}),
    default_duration="5",
    default_resolution="1080p",
)
_KLING_I2V = Endpoint(
    fields={
        "prompt": _TEXT,
        "image_url": _URL,
        "tail_image_url": _URL,
        "duration": _enum("5", "10"),
        "negative_prompt": _TEXT,
        "cfg_scale": Field("number", minimum=0, maximum=1),
    },
    required=frozenset({"prompt", "image_url"}),
    default_duration="5",
    default_resolution="1080p",
    image_field="image_url",
)

#: Endpoint id → what it takes (research 2.11, from fal-js ``types/endpoints.ts``).
ENDPOINTS: dict[str, Endpoint] = {
    "fal-ai/veo3.1": _VEO_T2V,
    "fal-ai/veo3.1/fast": _VEO_T2V,
    "fal-ai/veo3.1/image-to-video": _VEO_I2V,
    "fal-ai/veo3.1/fast/image-to-video": _VEO_I2V,
    "fal-ai/kling-video/v2.5-turbo/pro/text-to-video": _KLING_T2V,
    "fal-ai/kling-video/v2.1/master/text-to-video": _KLING_T2V,
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": _KLING_I2V,
    "fal-ai/kling-video/v2.1/pro/image-to-video": _KLING_I2V,
    "fal-ai/minimax/hailuo-02/standard/text-to-video": Endpoint(
        fields={"prompt": _TEXT, "duration": _enum("6", "10"), "prompt_optimizer": _BOOL},
        required=frozenset({"prompt"}),
        default_duration="6",
        default_resolution="768p",
    ),
    "fal-ai/minimax/hailuo-02/pro/image-to-video": Endpoint(
        fields={
            "prompt": _TEXT,
            "image_url": _URL,
            "end_image_url": _URL,
            "prompt_optimizer": _BOOL,
        },
        required=frozenset({"prompt", "image_url"}),
        default_duration="6",
        default_resolution="1080p",
        image_field="image_url",
    ),
    "fal-ai/bytedance/seedance/v1/pro/text-to-video": Endpoint(
        fields={
            "prompt": _TEXT,
            "aspect_ratio": _enum("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
            "duration": _enum(*(str(n) for n in range(2, 13))),
            "resolution": _enum("480p", "720p", "1080p"),
            "camera_fixed": _BOOL,
            "seed": _SEED,
            "num_frames": Field("int", minimum=1, maximum=24 * 12),
            "enable_safety_checker": _BOOL,
        },
        required=frozenset({"prompt"}),
        default_duration="5",
        default_resolution="1080p",
        returns_seed=True,
    ),
    "fal-ai/wan-25-preview/text-to-video": Endpoint(
        fields={
            "prompt": Field("text", max_length=1500),
            "negative_prompt": Field("text", max_length=500),
            "aspect_ratio": _enum("16:9", "9:16", "1:1"),
            "duration": _enum("5", "10"),
            "resolution": _enum("480p", "720p", "1080p"),
            "audio_url": _URL,
            "enable_prompt_expansion": _BOOL,
            "enable_safety_checker": _BOOL,
            "seed": _SEED,
        },
        required=frozenset({"prompt"}),
        default_duration="5",
        default_resolution="1080p",
        returns_seed=True,
    ),
}


def app_of(endpoint_id: str) -> str:
    """The ``{owner}/{app}`` part of an endpoint id, under which its requests live."""
    return "/".join(endpoint_id.split("/")[:2])


# -- validation (FastAPI / pydantic v2 style ``detail`` items) -----------------------------------


def _item(loc: list[str | int], msg: str, kind: str, value: Any = None) -> dict[str, Any]:
    found: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if value is not None:
        found["input"] = value
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_field(name: str, spec: Field, value: Any) -> list[dict[str, Any]]:
    loc: list[str | int] = ["body", name]
    if spec.kind == "text":
        if not isinstance(value, str):
            return [_item(loc, "Input should be a valid string", "string_type", value)]
        if spec.max_length is not None and len(value) > spec.max_length:
            msg = f"String should have at most {spec.max_length} characters"
            return [_item(loc, msg, "string_too_long", value[:40])]
        return []
    if spec.kind == "enum":
        if value not in spec.values:
            allowed = ", ".join(f"'{v}'" for v in spec.values[:-1])
            msg = f"Input should be {allowed} or '{spec.values[-1]}'"
            return [_item(loc, msg, "literal_error", value)]
        return []
    if spec.kind == "bool":
        if not isinstance(value, bool):
            return [_item(loc, "Input should be a valid boolean", "bool_type", value)]
        return []
    if spec.kind == "url":
        if not isinstance(value, str) or not value.startswith(("https://", "http://", "data:")):
            return [_item(loc, "Input should be a valid URL or data URI", "url_parsing", value)]
        return []
    number_ok = (
        _is_int(value)
        if spec.kind == "int"
        else (isinstance(value, int | float) and not isinstance(value, bool))
    )
    if not number_ok:
        word = "integer" if spec.kind == "int" else "number"
        return [_item(loc, f"Input should be a valid {word}", f"{spec.kind}_type", value)]
    if spec.minimum is not None and value < spec.minimum:
        msg = f"Input should be greater than or equal to {spec.minimum:g}"
        return [_item(loc, msg, "greater_than_equal", value)]
    if spec.maximum is not None and value > spec.maximum:
        msg = f"Input should be less than or equal to {spec.maximum:g}"
        return [_item(loc, msg, "less_than_equal", value)]
    return []


def validate(endpoint: Endpoint, body: dict[str, Any]) -> list[dict[str, Any]]:
    """``detail`` items for an input, as the endpoint's FastAPI app would report them."""
    issues: list[dict[str, Any]] = []
    for name in sorted(endpoint.required - set(body)):
        issues.append(_item(["body", name], "Field required", "missing"))
    for name, value in body.items():
        spec = endpoint.fields.get(name)
        if spec is None:
            issues.append(
                _item(["body", name], "Extra inputs are not permitted", "extra_forbidden")
            )
        else:
            issues += _check_field(name, spec, value)
    return issues


# -- what a request renders ----------------------------------------------------------------------


def _image_aspect(uri: Any, allowed: tuple[str, ...], default: str) -> str:
    """The allowed aspect ratio nearest a data-URI image's (a remote image is not fetched)."""
    if not isinstance(uri, str) or not uri.startswith("data:") or "," not in uri:
        return default
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))) as image:
            width, height = image.size
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        return default
    ratio = width / height if height else 1.0

    def distance(aspect: str) -> float:
        w, h = (int(n) for n in aspect.split(":"))
        return abs(w / h - ratio)

    return min(allowed, key=distance)


def _render_spec(endpoint: Endpoint, body: dict[str, Any], prompt: str) -> RenderSpec:
    duration = float(str(body.get("duration", endpoint.default_duration)).removesuffix("s"))
    frames = body.get("num_frames")
    if isinstance(frames, int) and not isinstance(frames, bool) and frames > 0:
        duration = frames / 24
    resolution = str(body.get("resolution", endpoint.default_resolution))
    resolution = "2160p" if resolution == "4k" else resolution
    aspect = body.get("aspect_ratio", endpoint.default_aspect)
    if endpoint.image_field and (aspect == "auto" or "aspect_ratio" not in endpoint.fields):
        aspect = _image_aspect(
            body.get(endpoint.image_field),
            endpoint.aspects if "aspect_ratio" in endpoint.fields else ("16:9", "9:16", "1:1"),
            endpoint.default_aspect,
        )
    seed = body.get("seed")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        seed = None
    return RenderSpec.from_request(
        strip_markers(prompt) or "fal",
        duration,
        resolution,
        str(aspect),
        fps=24,
        seed=seed,
        audio=bool(body.get("generate_audio", endpoint.default_audio)),
    )


# -- a request's state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A request at one moment, in fal's terms."""

    status: Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    progress: float = 0.0
    #: COMPLETED only: the result's status code and body, and the status's error fields.
    code: int = 200
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED" and self.code < 300


def _rejected(items: list[dict[str, Any]], error_type: str | None = None) -> Outcome:
    return Outcome(
        "COMPLETED",
        1.0,
        code=422,
        result={"detail": items},
        error="Invalid status code: 422",
        error_type=error_type,
    )


def _content_policy(loc: list[str | int], msg: str, value: Any) -> Outcome:
    item = _item(loc, msg, _CONTENT_POLICY, value)
    item["url"] = f"{_DOCS}#{_CONTENT_POLICY}"
    item["categories"] = ["violence"]
    return _rejected([item], _CONTENT_POLICY)


def outcome(sim: SimState, task: SimTask, now: float | None = None) -> Outcome:
    """Where a request stands: the same answer for status, result, cancel and webhooks."""
    now = time.time() if now is None else now
    extra = task.extra
    if task.canceled_at is not None:
        return Outcome(
            "COMPLETED",
            code=400,
            result={"detail": "Request was cancelled", "error_type": CANCEL_ERROR_TYPE},
            error="Request was cancelled",
            error_type=CANCEL_ERROR_TYPE,
        )
    if extra["issues"]:
        return _rejected(extra["issues"])
    if "moderation" in task.faults:
        prompt = extra["input"].get("prompt")
        return _content_policy(
            ["body", "prompt"], "The content was flagged by a content checker.", prompt
        )
    timeline = task.at(now)
    if timeline.phase in ("queued", "throttled"):
        return Outcome("IN_QUEUE")
    if timeline.phase == "running":
        return Outcome("IN_PROGRESS", timeline.progress)
    if timeline.phase == "failed" and timeline.failure == "moderation":
        return _content_policy(
            ["output", "video"], "The generated video was flagged by a content checker.", None
        )
    if timeline.phase == "failed":
        number = int(task.faults.value("fail", 1))
        if number == 5:
            item = _item(
                ["body", "image_url"],
                "Failed to download the file. Please check if the URL is accessible.",
                "file_download_error",
            )
            return _rejected([item])
        error_type, code, message = _FAIL_TYPES.get(number, _FAIL_TYPES[1])
        return Outcome(
            "COMPLETED",
            timeline.progress,
            code=code,
            result={"detail": message, "error_type": error_type},
            error=message,
            error_type=error_type,
        )
    return Outcome("COMPLETED", 1.0, result=_result(sim, task))


def _result(sim: SimState, task: SimTask) -> dict[str, Any]:
    endpoint = ENDPOINTS[task.model or ""]
    result: dict[str, Any] = {}
    if "missing-output" not in task.faults:
        result["video"] = {
            "url": sim.signed_url(task),
            "content_type": "video/mp4",
            "file_name": "output.mp4",
        }
    if endpoint.returns_seed:
        result["seed"] = task.spec.seed
    return result


#: Per simulator state, fal requests that may still be queued, oldest first (pruned as they
#: leave the queue, which they never re-enter), so a queue position costs the queue's length
#: rather than every task the simulator holds.
_queues: weakref.WeakKeyDictionary[SimState, deque[SimTask]] = weakref.WeakKeyDictionary()


def _queued(task: SimTask, now: float) -> bool:
    return (
        not task.deleted
        and task.canceled_at is None
        and not task.extra["issues"]
        and "moderation" not in task.faults
        and task.at(now).phase in ("queued", "throttled")
    )


def _queue_position(sim: SimState, task: SimTask, now: float) -> int:
    """How many of fal's still-queued requests were submitted before this one (0-indexed)."""
    queue = _queues.setdefault(sim, deque())
    while queue and not _queued(queue[0], now):
        queue.popleft()
    ahead = 0
    for other in queue:
        if other is task or other.created_at > task.created_at:
            break
        ahead += _queued(other, now)
    return ahead


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _logs(task: SimTask, state: Outcome) -> list[dict[str, Any]]:
    """The request's log lines so far; the progress is only in their text, as on fal."""

    def line(message: str, offset: float, level: str = "INFO") -> dict[str, Any]:
        return {
            "message": message,
            "level": level,
            "source": "USER",
            "timestamp": _iso(task.created_at + offset),
        }

    if state.status == "IN_QUEUE":
        return []
    found = [line("Starting generation", 0.0)]
    if state.status == "IN_PROGRESS":
        percent = min(int(state.progress * 100), 99)
        found.append(line(f"Generating video {percent}%", task.latency / 2))
    elif state.ok:
        found.append(line("Generating video 100%", task.latency))
    else:
        found.append(line(state.error or "failed", task.latency, "ERROR"))
    return found


# -- answers -------------------------------------------------------------------------------------


def _public(request: Request) -> str:
    return sim_state(request).config.public_url.rstrip("/") + "/fal"


def _urls(base: str, app: str, request_id: str) -> dict[str, str]:
    response_url = f"{base}/{app}/requests/{request_id}"
    return {
        "response_url": response_url,
        "status_url": response_url + "/status",
        "cancel_url": response_url + "/cancel",
    }


def _detail(status: int, detail: Any, error_type: str | None = None, **headers: str) -> Response:
    body: dict[str, Any] = {"detail": detail}
    if error_type:
        body["error_type"] = error_type
        headers["X-Fal-Error-Type"] = error_type
    return JSONResponse(body, status_code=status, headers=headers)


def _key_id(request: Request) -> str | Response:
    """The key id from ``Authorization: Key <key_id:key_secret>``, or the 401 to answer."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key_id, colon, secret = token.strip().partition(":")
    if scheme.lower() != "key" or not colon or not key_id or not secret:
        return _detail(
            401,
            "Missing or malformed Authorization header: use 'Key <key_id:key_secret>'",
        )
    return key_id


def _request_faults(request: Request) -> Faults | Response:
    try:
        return parse_faults(request.headers.get(FAULT_HEADER))
    except UnknownFault as exc:
        return _detail(400, str(exc))


def _request_key(request: Request, raw: bytes, endpoint_id: str) -> str:
    """What makes two submits "the same request" (a client's retry)."""
    reference = request.headers.get(REFERENCE_HEADER)
    if reference:
        return "ref:" + reference
    digest = hashlib.sha256(
        endpoint_id.encode() + raw + (request.headers.get(FAULT_HEADER) or "").encode()
    )
    return "body:" + digest.hexdigest()


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """The input without bulky data URIs (kept with the request for tests to inspect)."""

    def short(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            head, _, payload = value.partition(",")
            return f"{head},<{len(payload) * 3 // 4} bytes>"
        return value

    return {k: short(v) for k, v in body.items()}


# -- keys and webhook signatures -----------------------------------------------------------------


def signing_key(app_state: Any) -> Ed25519PrivateKey:
    """This app's webhook signing key (made on first use; the JWKS also lists an older key)."""
    keys: list[Ed25519PrivateKey] | None = getattr(app_state, "fal_webhook_keys", None)
    if keys is None:
        keys = [Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()]
        app_state.fal_webhook_keys = keys
    return keys[-1]


def _jwks(app_state: Any) -> dict[str, Any]:
    signing_key(app_state)
    entries = []
    for number, key in enumerate(app_state.fal_webhook_keys):
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).decode("ascii")
        entries.append(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": f"sim-{number}",
                "use": "sig",
                "alg": "EdDSA",
                # fal's live keys reportedly keep the base64 padding; show both forms.
                "x": x if number == 0 else x.rstrip("="),
            }
        )
    return {"keys": entries}


def sign_webhook(
    key: Ed25519PrivateKey, request_id: str, user_id: str, timestamp: int, body: bytes
) -> str:
    """fal's webhook signature: hex Ed25519 over the four lines it documents."""
    message = "\n".join(
        [request_id, user_id, str(timestamp), hashlib.sha256(body).hexdigest()]
    ).encode()
    return key.sign(message).hex()


def webhook_headers(
    key: Ed25519PrivateKey, request_id: str, user_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """fal's four webhook headers (written in lower case: ``SimState.send_webhook`` tampers
    with the one whose name contains ``signature`` for the ``webhook-forged`` fault)."""
    return {
        "x-fal-webhook-request-id": request_id,
        "x-fal-webhook-user-id": user_id,
        "x-fal-webhook-timestamp": str(timestamp),
        "x-fal-webhook-signature": sign_webhook(key, request_id, user_id, timestamp, body),
    }


def _user_id(key_id: str) -> str:
    return "sim-user-" + hashlib.sha256(key_id.encode()).hexdigest()[:12]


async def _watch(sim: SimState, task: SimTask, url: str, key: Ed25519PrivateKey) -> None:
    """POST the result to ``url`` once the request completes, signed as fal signs it."""
    latency = task.latency * 5 + task.faults.value("moderation-after", 0.0)
    while True:
        if task.deleted or time.time() - task.created_at > latency + _WATCH_GRACE:
            return  # hanging for good
        state = outcome(sim, task)
        if state.status == "COMPLETED":
            break
        await asyncio.sleep(_WATCH_STEP)
    body: dict[str, Any] = {
        "request_id": task.id,
        "gateway_request_id": task.id,
        "status": "OK" if state.ok else "ERROR",
        "payload": state.result,
    }
    if not state.ok:
        body["error"] = f"Invalid status code: {state.code}"
    user_id = _user_id(task.extra["key_id"])

    def headers_for(raw: bytes) -> dict[str, str]:
        return webhook_headers(key, task.id, user_id, int(time.time()), raw)

    sim.send_webhook(url, body, faults=task.faults, headers_for=headers_for, kind=PROVIDER)


# -- routes --------------------------------------------------------------------------------------


@router.get(JWKS_PATH)
async def jwks(request: Request) -> Response:
    return JSONResponse(_jwks(request.app.state))


def _find(
    request: Request, owner: str, app: str, request_id: str
) -> tuple[SimState, SimTask] | Response:
    """The request, after the same gate every queue call passes."""
    gate = _key_id(request)
    if isinstance(gate, Response):
        return gate
    faults = _request_faults(request)
    if isinstance(faults, Response):
        return faults
    if "auth" in faults:
        return _detail(401, "Invalid key: authentication failed")
    sim = sim_state(request)
    task = sim.get(PROVIDER, request_id)
    if task is None or task.extra["app"] != f"{owner}/{app}":
        return _detail(404, f"Request {request_id} not found")
    return sim, task


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _status_json(
    request: Request, task: SimTask, state: Outcome, logs: bool, now: float
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": state.status,
        "request_id": task.id,
        **_urls(_public(request), task.extra["app"], task.id),
    }
    if state.status == "IN_QUEUE":
        body["queue_position"] = _queue_position(sim_state(request), task, now)
        return body
    body["logs"] = _logs(task, state) if logs else None
    if state.status == "COMPLETED":
        elapsed = min(now - task.created_at, task.latency)
        body["metrics"] = {"inference_time": round(elapsed, 3)} if state.ok else {}
        if state.error is not None:
            body["error"] = state.error
            body["error_type"] = state.error_type
    return body


@router.get("/{owner}/{app}/requests/{request_id}/status")
async def status(request: Request, owner: str, app: str, request_id: str) -> Response:
    found = _find(request, owner, app, request_id)
    if isinstance(found, Response):
        return found
    sim, task = found
    drawn = sim.config.profile.draw(["500-poll"])
    asked = "500-poll" in (request.headers.get(FAULT_HEADER) or "")
    if task.first_polls_fail() or "500-poll" in drawn or asked:
        return _detail(500, "Internal Server Error")
    now = time.time()
    state = outcome(sim, task, now)
    body = _status_json(request, task, state, _truthy(request.query_params.get("logs")), now)
    code = 200 if state.status == "COMPLETED" else 202
    return JSONResponse(body, status_code=code, headers={"x-fal-request-id": task.id})


@router.get("/{owner}/{app}/requests/{request_id}/status/stream")
async def status_stream(request: Request, owner: str, app: str, request_id: str) -> Response:
    found = _find(request, owner, app, request_id)
    if isinstance(found, Response):
        return found
    sim, task = found
    logs = _truthy(request.query_params.get("logs"))

    async def events() -> AsyncIterator[bytes]:
        last: str | None = None
        while True:
            now = time.time()
            state = outcome(sim, task, now)
            text = json.dumps(_status_json(request, task, state, logs, now))
            if text != last:
                last = text
                yield f"data: {text}\n\n".encode()
            if state.status == "COMPLETED":
                return
            await asyncio.sleep(_WATCH_STEP)

    return StreamingResponse(events(), media_type="text/event-stream")


@router.get("/{owner}/{app}/requests/{request_id}")
async def result(request: Request, owner: str, app: str, request_id: str) -> Response:
    found = _find(request, owner, app, request_id)
    if isinstance(found, Response):
        return found
    sim, task = found
    state = outcome(sim, task)
    headers = {"x-fal-request-id": task.id}
    if state.status != "COMPLETED":
        return _detail(400, "Request is still in progress", **headers)
    if state.ok:
        return JSONResponse(state.result, headers=headers)
    if state.error_type and "error_type" in state.result:
        headers["X-Fal-Error-Type"] = state.error_type
    return JSONResponse(state.result, status_code=state.code, headers=headers)


@router.put("/{owner}/{app}/requests/{request_id}/cancel")
async def cancel(request: Request, owner: str, app: str, request_id: str) -> Response:
    found = _find(request, owner, app, request_id)
    if isinstance(found, Response):
        if found.status_code == 404:
            return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
        return found
    sim, task = found
    if outcome(sim, task).status == "COMPLETED":
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    task.canceled_at = time.time()
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)


def _fires(sim: SimState, drawn: Faults, requested: Faults, once: str, name: str) -> bool:
    """Whether a create fault fires: drawn by the profile, or asked for (once per request)."""
    if name in drawn:
        return True
    return name in requested and sim.first_time(name, once)


async def _read_submit(request: Request) -> tuple[bytes, dict[str, Any], Faults] | Response:
    """The submit's raw body, its JSON object and the faults it asks for; or the error."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return _detail(422, [_item(["body"], "Invalid JSON", "json_invalid")])
    if not isinstance(body, dict):
        return _detail(422, [_item(["body"], "Input should be a valid dictionary", "dict_type")])
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else None
    try:
        return raw, body, parse_faults(request.headers.get(FAULT_HEADER), prompt)
    except UnknownFault as exc:
        return _detail(400, str(exc))


def _refusal(
    endpoint_id: str, faults: Faults, fires: Callable[[str], bool], webhook: str | None
) -> Response | None:
    """The answer for a submit refused before anything is created, if it is."""
    if "auth" in faults:
        return _detail(401, f"Cannot access application '{app_of(endpoint_id)}': invalid key")
    if "no-credits" in faults:
        return _detail(403, _LOCKED)
    if endpoint_id not in ENDPOINTS:
        return _detail(404, f"Application '{endpoint_id}' not found")
    if webhook is not None and urlsplit(webhook).scheme not in ("http", "https"):
        return _detail(400, "fal_webhook must be an http(s) URL")
    if fires("429"):
        after = faults.value("retry-after", faults.value("429", 1.0))
        return _detail(429, "Too many requests", **{"Retry-After": f"{after:g}"})
    if fires("429-no-retry-after"):
        return _detail(429, "Too many requests")
    if fires("500-create"):
        return _detail(500, "Internal Server Error", "internal_error")
    return None


@router.post("/{endpoint_id:path}")
async def submit(request: Request, endpoint_id: str) -> Response:
    sim = sim_state(request)
    key_id = _key_id(request)
    if isinstance(key_id, Response):
        return key_id
    read = await _read_submit(request)
    if isinstance(read, Response):
        return read
    raw, body, requested = read
    endpoint_id = endpoint_id.strip("/")
    drawn = sim.config.profile.draw(_CREATE_FAULTS)
    faults = requested.merged(drawn)
    once = _request_key(request, raw, endpoint_id)

    def fires(name: str) -> bool:
        return _fires(sim, drawn, requested, once, name)

    webhook = request.query_params.get("fal_webhook")
    refused = _refusal(endpoint_id, faults, fires, webhook)
    if refused is not None:
        return refused

    endpoint = ENDPOINTS[endpoint_id]
    issues = validate(endpoint, body)
    if "invalid" in faults:
        issues.append(_item(["body"], "Simulated invalid request", "value_error"))
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else None
    spec = _render_spec(endpoint, {} if issues else body, prompt or endpoint_id)
    app = app_of(endpoint_id)
    task = sim.add(
        SimTask(
            id=sim.new_id("uuid"),
            provider=PROVIDER,
            spec=spec,
            faults=faults,
            latency=sim.config.latency,
            reference=request.headers.get(REFERENCE_HEADER),
            model=endpoint_id,
            extra={
                "app": app,
                "input": _summary(body),
                "issues": issues,
                "webhook": webhook,
                "key_id": key_id,
            },
        )
    )
    _queues.setdefault(sim, deque()).append(task)
    if webhook:
        watcher = asyncio.get_running_loop().create_task(
            _watch(sim, task, webhook, signing_key(request.app.state))
        )
        _watchers.add(watcher)
        watcher.add_done_callback(_watchers.discard)
    if fires("500-after-create"):
        return _detail(500, "Internal Server Error", "internal_error")
    return JSONResponse(
        {
            "status": "IN_QUEUE",
            "request_id": task.id,
            "gateway_request_id": task.id,
            **_urls(_public(request), app, task.id),
            "queue_position": _queue_position(sim, task, time.time()),
        },
        headers={"x-fal-request-id": task.id},
    )
