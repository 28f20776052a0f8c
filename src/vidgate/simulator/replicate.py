"""Simulator twin of Replicate's HTTP API (``api.replicate.com``), mounted at ``/replicate``.

Written to the wire contract in the provider research (``replicate-fal-veo.md`` section 1, and
section 4 for the webhook signatures), so that vidgate's adapter and the unmodified official
client (``replicate.Client(base_url=…/replicate)``, R-SDK1 1.0.7) both work against it:

- ``POST /v1/models/{owner}/{name}/predictions`` (official models; ``version`` comes back as
  ``"hidden"``) and ``POST /v1/predictions`` with ``version`` (a 64-hex version id,
  ``owner/name:<id>`` or, for official models, ``owner/name``). The input is validated against
  the model's schema in :data:`MODELS` (research 1.10) and a bad one is answered 422 with
  Replicate's shape: ``{title: "Input validation failed", detail: "- input.x: …\\n", status,
  invalid_fields: [{type, field, description}]}``. Unknown input properties are refused too
  (stricter than Replicate is known to be: it makes a wrong catalogue mapping visible). A
  cross-field rule a model checks inside ``predict()`` (Hailuo's 10 s only at 768p…) is a
  *failed prediction*, not an HTTP error, as on Replicate.
- ``GET /v1/predictions/{id}``: ``starting → processing → succeeded | failed | canceled |
  aborted``; ``logs`` carry tqdm-style lines (``  40%|████      | 40/100``) that R-SDK1's
  ``Prediction.progress`` parses; ``output`` is one URL string, already set while the status is
  still ``processing`` in the last tenth of the run (Replicate returns file outputs as soon as
  they exist). ``metrics`` (``predict_time``, ``total_time``) on terminal predictions.
  ``urls`` has ``get``, ``cancel`` and ``web``; no ``stream`` (no SSE here).
- Data removal: one hour after completion (``SimulatorConfig.url_ttl``, so a test can run the
  clock fast) input, output and logs are gone: ``data_removed: true``, ``input: {}``, ``output:
  null``. Output URLs are signed to expire at that same moment.
- ``POST /v1/predictions/{id}/cancel``: 200 with the prediction; a finished one is unchanged.
- ``GET /v1/predictions``: newest first, cursor pages ``{next, previous, results}`` of
  :data:`PAGE_SIZE` (100, as Replicate), ``created_after`` / ``created_before`` filters; ``next``
  and ``previous`` are whole URLs, as R-SDK1 expects.
- ``GET /v1/webhooks/default/secret``: ``{"key": "whsec_…"}``, one secret per simulator state.

Headers on create: ``Prefer: wait[=N]`` (N 1..60, the spec's pattern) holds the answer until the
prediction is finished or has its output, or N seconds passed (capped at :data:`MAX_WAIT`), and
answers the prediction as it then is: 201 when finished, 202 otherwise, with ``Location``.
``Cancel-After`` (``30s``, ``5m``, ``1h30m45s``, ``250ms``, or a bare number of seconds;
at least :data:`MIN_CANCEL_AFTER`, 5 s as on Replicate, which tests may lower) sets the
prediction's ``deadline``: a prediction still ``starting`` then is ``aborted``, one
``processing`` is ``canceled`` (research 1.3). The ``X-Vidgate-Reference`` header (which
Replicate ignores) counts creates per reference in ``/_simulator/stats``.

Webhooks: ``webhook`` (http or https here, so a loopback receiver works; Replicate wants https)
with ``webhook_events_filter`` ⊆ ``start`` (sent on creation), ``output`` (when the output
appears), ``logs`` (at most every 500 ms) and ``completed`` (terminal); without a filter, all
four. Each delivery is the prediction JSON, signed as Replicate signs (``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>`` keyed with the secret
above; research 1.9). Deliveries go through ``SimState.send_webhook``, so every event (not only
the final one, as on Replicate) is retried on failure.

Auth: ``Authorization: Bearer r8_…`` or the legacy ``Token …``; anything else is 401.

Faults (``X-Simulator-Fault`` header or ``[sim:…]`` in ``input.prompt``, plus the global
profile), in Replicate's words:

=========================  =======================================================================
``auth``                   401 ``Unauthenticated`` problem
``invalid``                422 ``Input validation failed``
``no-credits``             402 ``Insufficient credit`` ("You have insufficient credit to run this
                           model…")
``429``                    429 "Request was throttled. Your rate limit resets in ~Ns." with
                           ``Retry-After`` (``retry-after=N``, else 1 s); ``429-no-retry-after``:
                           the same body without the header. Once per request (reference, else
                           body), so a retry goes through
``500-create``             500, nothing created (once per request)
``500-after-create``       the prediction is created, then 500 (once per request)
``moderation[=N]``         the prediction is ``failed`` from its first read: N=1 (default) the
                           E005 text "The input or output was flagged as sensitive…", N=2 an
                           upstream model's safety-filter wording
``moderation-after=N``     ``failed`` with the E005 text after N s, having run
``fail[=N]``               ``failed`` part-way: N=1 "Prediction interrupted; please retry (code:
                           PA)", N=2 a model error from ``predict()``
``throttled``              ``starting`` (a cold boot) for the whole latency
``slow`` / ``hang``        5x latency / stuck ``processing`` at 50 %
``500-poll``               the prediction's first two reads answer 500
``missing-output``         ``succeeded`` with ``output: null``
``expired-url``            the output URL has expired when read, and once the succeeded
                           prediction has been read, its data is removed (as after the hour)
output faults              ``500-download``, ``truncated``, ``corrupt``, ``wrong-duration``,
                           ``wrong-aspect`` act on the signed output file
webhook faults             ``webhook-drop``, ``webhook-duplicate``, ``webhook-late=N``,
                           ``webhook-forged`` (see ``SimState.send_webhook``)
=========================  =======================================================================
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import io
import json
import math
import re
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..webhooks import sign
from .app import sim_state
from .faults import FAULT_HEADER, Faults, UnknownFault, parse_faults, strip_markers
from .state import RenderSpec, SimState, SimTask

__all__ = [
    "MAX_WAIT",
    "MIN_CANCEL_AFTER",
    "MODELS",
    "PAGE_SIZE",
    "ModelSchema",
    "Param",
    "parse_duration",
    "router",
    "webhook_secret",
]

router = APIRouter()

PROVIDER = "replicate"
REFERENCE_HEADER = "x-vidgate-reference"
#: Replicate's minimum ``Cancel-After``, in seconds (R-OAS). Tests lower it to stay fast.
MIN_CANCEL_AFTER = 5.0
#: The longest ``Prefer: wait`` hold, in seconds (the spec allows 1..60).
MAX_WAIT = 60.0
#: Predictions per list page (Replicate's page size).
PAGE_SIZE = 100
#: How long a webhook watcher follows a prediction that never finishes (``hang``).
WATCH_LIMIT = 30 * 60.0
#: Replicate throttles ``logs`` / ``output`` webhooks to one per 500 ms.
WEBHOOK_THROTTLE = 0.5
EVENTS = ("start", "output", "logs", "completed")
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})

_QUEUED_FRACTION = 0.15  # as SimTask.at: the first 15 % of the latency is spent queued
_EARLY_OUTPUT = 0.9  # the output URL appears at 90 % of the run, before ``succeeded``
_PREFER = re.compile(r"^wait(=([1-9]|[1-9][0-9]|60))?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")

_UNAUTHENTICATED = "You did not pass a valid authentication token"
_NO_CREDIT = (
    "You have insufficient credit to run this model. Go to "
    "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
    "credit, please wait a few minutes before trying again."
)
_FLAGGED = {
    1: "The input or output was flagged as sensitive. Please try again with different inputs. "
    "(E005)",
    2: "Content flagged: the prompt or image was rejected by the model provider's safety "
    "filter (sensitive content).",
}
_FAILED = {
    1: "Prediction interrupted; please retry (code: PA)",
    2: "Traceback (most recent call last): RuntimeError: generation produced no frames",
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
    "webhook-late",
    "webhook-forged",
]


# -- the models ---------------------------------------------------------------------------------

ParamKind = Literal["string", "integer", "number", "boolean", "uri", "uri_list"]


@dataclass(frozen=True)
class Param:
    """One input property of a model's schema (``openapi_schema.components.schemas.Input``)."""

    kind: ParamKind
    required: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    max_items: int | None = None


@dataclass(frozen=True)
class ModelSchema:
    """What Replicate accepts for one official model, and how the twin renders its output."""

    params: dict[str, Param]
    version: str
    #: The input naming the output size, and its values' resolutions (``None``: the value is
    #: the resolution itself, e.g. ``"720p"``); without one, ``default_resolution`` is used.
    resolution_param: str | None = "resolution"
    resolution_values: dict[str, str] | None = None
    default_resolution: str = "720p"
    #: Inputs holding a first frame; when one is given and this is set, the output takes the
    #: image's aspect ratio (the model has no aspect input, or ignores it with an image).
    image_params: tuple[str, ...] = ()
    aspect_follows_image: bool = True
    audio_param: str | None = None
    #: Checks ``predict()`` makes: a message fails the prediction.
    checks: tuple[Callable[[dict[str, Any]], str | None], ...] = ()


def _version(name: str, prefix: str = "") -> str:
    """A stable 64-hex version id; ``prefix`` is the short id the model page shows."""
    digest = hashlib.sha256(f"replicate-twin:{name}".encode()).hexdigest()
    return (prefix + digest)[:64]


_PROMPT = Param("string", required=True)
_TEXT = Param("string")
_URI = Param("uri")
_SEED = Param("integer", minimum=0, maximum=2**32 - 1)


def _veo(name: str, prefix: str, *, last_frame: bool, references: bool, res: str) -> ModelSchema:
    params = {
        "prompt": _PROMPT,
        "aspect_ratio": Param("string", choices=("16:9", "9:16"), default="16:9"),
        "duration": Param("integer", choices=(4, 6, 8), default=8),
        "image": _URI,
        "negative_prompt": _TEXT,
        "resolution": Param("string", choices=("720p", "1080p"), default=res),
        "generate_audio": Param("boolean", default=True),
        "seed": _SEED,
    }
    if last_frame:
        params["last_frame"] = _URI
    if references:
        params["reference_images"] = Param("uri_list", max_items=3)
    return ModelSchema(
        params=params,
        version=_version(name, prefix),
        default_resolution=res,
        image_params=("image",),
        aspect_follows_image=False,
        audio_param="generate_audio",
    )


def _check(
    message: str, broken: Callable[[dict[str, Any]], bool]
) -> Callable[[dict[str, Any]], str | None]:
    """A check ``predict()`` makes: ``message`` fails the prediction when ``broken`` holds."""
    return lambda values: message if broken(values) else None


#: The official video models, from the research (section 1.10; several via third-party mirrors).
MODELS: dict[str, ModelSchema] = {
    "google/veo-3.1": _veo(
        "google/veo-3.1", "ed5b1767", last_frame=True, references=True, res="1080p"
    ),
    "google/veo-3.1-fast": _veo(
        "google/veo-3.1-fast", "e246755a", last_frame=True, references=False, res="720p"
    ),
    "google/veo-3": _veo("google/veo-3", "", last_frame=False, references=False, res="1080p"),
    "google/veo-3-fast": _veo(
        "google/veo-3-fast", "", last_frame=False, references=False, res="1080p"
    ),
    "kwaivgi/kling-v2.5-turbo-pro": ModelSchema(
        params={
            "prompt": _PROMPT,
            "negative_prompt": _TEXT,
            "aspect_ratio": Param("string", choices=("16:9", "9:16", "1:1"), default="16:9"),
            "start_image": _URI,
            "image": _URI,  # deprecated alias of start_image
            "duration": Param("integer", choices=(5, 10), default=5),
        },
        version=_version("kwaivgi/kling-v2.5-turbo-pro"),
        resolution_param=None,
        default_resolution="1080p",
        image_params=("start_image", "image"),
    ),
    "kwaivgi/kling-v2.1": ModelSchema(
        params={
            "prompt": _PROMPT,
            "start_image": Param("uri", required=True),
            "negative_prompt": _TEXT,
            "mode": Param("string", choices=("standard", "pro"), default="standard"),
            "duration": Param("integer", choices=(5, 10), default=5),
            "end_image": _URI,
        },
        version=_version("kwaivgi/kling-v2.1"),
        resolution_param="mode",
        resolution_values={"standard": "720p", "pro": "1080p"},
        default_resolution="720p",
        image_params=("start_image",),
        checks=(
            _check(
                "end_image is only supported in pro mode",
                lambda v: bool(v.get("end_image")) and v.get("mode", "standard") != "pro",
            ),
        ),
    ),
    "minimax/hailuo-02": ModelSchema(
        params={
            "prompt": _PROMPT,
            "first_frame_image": _URI,
            "last_frame_image": _URI,
            "duration": Param("integer", choices=(6, 10), default=6),
            "resolution": Param("string", choices=("512p", "768p", "1080p"), default="1080p"),
            "prompt_optimizer": Param("boolean", default=True),
        },
        version=_version("minimax/hailuo-02", "c43b610e"),
        default_resolution="1080p",
        image_params=("first_frame_image",),
        checks=(
            _check(
                "10 second videos are only supported at 768p resolution",
                lambda v: v.get("duration") == 10 and v.get("resolution", "1080p") != "768p",
            ),
        ),
    ),
    "minimax/hailuo-2.3": ModelSchema(
        params={
            "prompt": _PROMPT,
            "first_frame_image": _URI,
            "duration": Param("integer", choices=(6, 10), default=6),
            "resolution": Param("string", choices=("768p", "1080p"), default="768p"),
            "prompt_optimizer": Param("boolean", default=True),
        },
        version=_version("minimax/hailuo-2.3"),
        default_resolution="768p",
        image_params=("first_frame_image",),
        checks=(
            _check(
                "1080p supports only 6 second videos",
                lambda v: v.get("resolution", "768p") == "1080p" and v.get("duration", 6) != 6,
            ),
        ),
    ),
    "bytedance/seedance-1-pro": ModelSchema(
        params={
            "prompt": _PROMPT,
            "image": _URI,
            "last_frame_image": _URI,
            "duration": Param("integer", minimum=2, maximum=12, default=5),
            "resolution": Param("string", choices=("480p", "720p", "1080p"), default="1080p"),
            "aspect_ratio": Param(
                "string",
                choices=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
                default="16:9",
            ),
            "fps": Param("integer", choices=(24,), default=24),
            "camera_fixed": Param("boolean", default=False),
            "seed": _SEED,
        },
        version=_version("bytedance/seedance-1-pro"),
        default_resolution="1080p",
        image_params=("image",),
        checks=(
            _check(
                "last_frame_image requires image",
                lambda v: bool(v.get("last_frame_image")) and not v.get("image"),
            ),
        ),
    ),
    "wan-video/wan-2.5-i2v": ModelSchema(
        params={
            "prompt": _PROMPT,
            "image": Param("uri", required=True),
            "audio": _URI,
            "duration": Param("integer", choices=(5, 10), default=5),
            "resolution": Param("string", choices=("480p", "720p", "1080p"), default="720p"),
            "negative_prompt": _TEXT,
            "enable_prompt_expansion": Param("boolean", default=True),
            "seed": _SEED,
        },
        version=_version("wan-video/wan-2.5-i2v"),
        default_resolution="720p",
        image_params=("image",),
    ),
}


# -- per-state twin data ------------------------------------------------------------------------


@dataclass
class _Account:
    """What this twin keeps beside the shared ``SimState``: the account's webhook secret."""

    secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )


_ACCOUNTS: weakref.WeakKeyDictionary[SimState, _Account] = weakref.WeakKeyDictionary()
_WATCHERS: set[asyncio.Task[None]] = set()


def _account(sim: SimState) -> _Account:
    account = _ACCOUNTS.get(sim)
    if account is None:
        account = _ACCOUNTS[sim] = _Account()
    return account


def webhook_secret(sim: SimState) -> str:
    """The ``whsec_`` secret this simulator signs Replicate webhooks with."""
    return _account(sim).secret


# -- answers in Replicate's shapes --------------------------------------------------------------


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "status": status, **extra},
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


def _not_found() -> JSONResponse:
    return _problem(404, "Not found", "The requested resource could not be found.")


def _server_error() -> JSONResponse:
    return _problem(500, "Internal server error", "An unexpected error occurred.")


def _invalid(fields: list[dict[str, str]]) -> JSONResponse:
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    return _problem(422, "Input validation failed", detail, invalid_fields=fields)


def _iso(timestamp: float) -> str:
    """RFC 3339 with microseconds and ``Z``, as Replicate writes times."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _authorized(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() in ("bearer", "token") and bool(token.strip())


def _gate(request: Request, faults: Faults) -> JSONResponse | None:
    if not _authorized(request) or "auth" in faults:
        return _problem(401, "Unauthenticated", _UNAUTHENTICATED)
    return None


def _throttled(after: float, with_header: bool) -> JSONResponse:
    detail = f"Request was throttled. Your rate limit resets in ~{math.ceil(after)}s."
    headers = {"Retry-After": f"{after:g}"} if with_header else None
    return _problem(429, "Request was throttled", detail, headers=headers)


# -- input validation --------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uri_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "invalid type. Expected: string, given: " + _json_type(value)
    if value.startswith("data:"):
        head, sep, payload = value.partition(",")
        if not sep or not head.endswith(";base64"):
            return "does not match format 'uri': a data URI must be base64-encoded"
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return "does not match format 'uri': the data URI is not valid base64"
        return None
    if not value.startswith(("https://", "http://")):
        return "does not match format 'uri'"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _param_problem(param: Param, value: Any) -> tuple[str, str] | None:
    """``(type, description)`` of what is wrong with one value, gojsonschema-style."""
    expected = {
        "string": isinstance(value, str),
        "integer": _is_int(value),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "uri": True,
        "uri_list": isinstance(value, list),
    }[param.kind]
    if not expected:
        kind = "array" if param.kind == "uri_list" else param.kind
        return "invalid_type", f"invalid type. Expected: {kind}, given: {_json_type(value)}"
    if param.kind == "uri":
        problem = _uri_problem(value)
        return ("format", problem) if problem else None
    if param.kind == "uri_list":
        if param.max_items is not None and len(value) > param.max_items:
            return "array_max_items", f"must have at most {param.max_items} items"
        for item in value:
            problem = _uri_problem(item)
            if problem:
                return "format", problem
        return None
    if param.choices is not None and value not in param.choices:
        listed = ", ".join(json.dumps(c) if isinstance(c, str) else str(c) for c in param.choices)
        return "enum", f"must be one of the following: {listed}"
    if param.minimum is not None and value < param.minimum:
        return "number_gte", f"must be greater than or equal to {param.minimum:g}"
    if param.maximum is not None and value > param.maximum:
        return "number_lte", f"must be less than or equal to {param.maximum:g}"
    return None


def validate_input(schema: ModelSchema, values: Any) -> list[dict[str, str]]:
    """Replicate's ``invalid_fields`` for an input object; empty when it is valid."""
    if not isinstance(values, dict):
        return [{"type": "required", "field": "input", "description": "input is required"}]
    problems: list[dict[str, str]] = []
    for name, param in schema.params.items():
        if param.required and values.get(name) in (None, ""):
            problems.append(
                {"type": "required", "field": "input", "description": f"{name} is required"}
            )
    for name, value in values.items():
        where = f"input.{name}"
        known = schema.params.get(name)
        if known is None:
            problems.append(
                {
                    "type": "additional_property_not_allowed",
                    "field": "input",
                    "description": f"Additional property {name} is not allowed",
                }
            )
            continue
        if value is None and not known.required:
            continue
        found = _param_problem(known, value)
        if found is not None:
            kind, text = found
            problems.append({"type": kind, "field": where, "description": f"{where} {text}"})
    return problems


def parse_duration(text: str) -> float | None:
    """``Cancel-After``: ``"30s"``, ``"5m"``, ``"1h30m45s"``, ``"250ms"`` or bare seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


# -- rendering what was asked --------------------------------------------------------------------


def _image_aspect(uri: Any) -> str | None:
    """The ``W:H`` of a data-URI image (remote images are not fetched by the twin)."""
    if not isinstance(uri, str) or not uri.startswith("data:"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def _render_spec(schema: ModelSchema, values: dict[str, Any], prompt: str) -> RenderSpec:
    def default(name: str) -> Any:
        param = schema.params.get(name)
        return values.get(name, param.default if param else None)

    resolution = schema.default_resolution
    if schema.resolution_param is not None:
        chosen = default(schema.resolution_param)
        if schema.resolution_values is not None:
            resolution = schema.resolution_values.get(chosen, resolution)
        elif isinstance(chosen, str):
            resolution = chosen
    aspect = default("aspect_ratio") or "16:9"
    image = next((values[p] for p in schema.image_params if values.get(p)), None)
    if image is not None and schema.aspect_follows_image:
        aspect = _image_aspect(image) or aspect
    audio = bool(default(schema.audio_param)) if schema.audio_param else False
    return RenderSpec.from_request(
        prompt,
        float(default("duration") or 5),
        resolution,
        aspect,
        fps=int(default("fps") or 24),
        seed=values.get("seed"),
        audio=audio,
    )


# -- the prediction object ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    status: str
    progress: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None


def _latency(task: SimTask) -> float:
    return task.latency * (5 if "slow" in task.faults else 1)


def _started(task: SimTask) -> float:
    fraction = 1.0 if "throttled" in task.faults else _QUEUED_FRACTION
    return task.created_at + fraction * _latency(task)


def _run_state(task: SimTask, now: float) -> _Snapshot:
    """The prediction's state at ``now`` from its timeline alone (no cancel, no deadline)."""
    created = task.created_at
    if "moderation" in task.faults:
        message = _FLAGGED.get(int(task.faults.value("moderation", 1)), _FLAGGED[1])
        return _Snapshot("failed", completed_at=created, error=message)
    started = _started(task)
    model_error = task.extra.get("model_error")
    if model_error:
        if now < started:
            return _Snapshot("starting")
        return _Snapshot("failed", started_at=started, completed_at=started, error=model_error)
    timeline = dataclasses.replace(task, canceled_at=None).at(now)
    latency = _latency(task)
    if timeline.phase in ("queued", "throttled"):
        return _Snapshot("starting")
    if timeline.phase == "running":
        progress = (timeline.progress - _QUEUED_FRACTION) / (1 - _QUEUED_FRACTION)
        return _Snapshot("processing", max(0.0, progress), started_at=min(started, now))
    if timeline.phase == "succeeded":
        done = created + latency
        return _Snapshot("succeeded", 1.0, started_at=min(started, done), completed_at=done)
    if timeline.failure == "moderation":
        done = created + task.faults.value("moderation-after", 1.0)
        return _Snapshot(
            "failed",
            started_at=started if started <= done else None,
            completed_at=done,
            error=_FLAGGED[1],
        )
    done = created + 0.6 * latency
    message = _FAILED.get(int(task.faults.value("fail", 1)), _FAILED[1])
    return _Snapshot("failed", 0.5, started_at=min(started, done), completed_at=done, error=message)


def _state(task: SimTask, now: float) -> _Snapshot:
    """The prediction's state at ``now``: a cancel or a ``Cancel-After`` deadline first."""
    deadline: float | None = task.extra.get("deadline")
    canceled = task.canceled_at
    if canceled is not None and (deadline is None or canceled < deadline) and now >= canceled:
        before = _run_state(task, canceled)
        if before.status not in TERMINAL:
            return _Snapshot("canceled", before.progress, before.started_at, canceled)
    if deadline is not None and now >= deadline:
        before = _run_state(task, deadline)
        if before.status == "starting":
            return _Snapshot("aborted", completed_at=deadline)
        if before.status == "processing":
            return _Snapshot("canceled", before.progress, before.started_at, deadline)
    return _run_state(task, now)


def _logs(task: SimTask, snapshot: _Snapshot) -> str:
    if snapshot.started_at is None:
        return ""
    lines = [f"Using seed: {task.spec.seed}", "Generating video..."]
    percent = int(snapshot.progress * 100)
    for step in [*range(0, percent, 10), percent]:
        bar = "█" * (step // 10) + " " * (10 - step // 10)
        lines.append(f"{step:3d}%|{bar}| {step}/100")
    if snapshot.status == "succeeded":
        lines.append("Video generated.")
    return "\n".join(lines) + "\n"


def _base(sim: SimState) -> str:
    return f"{sim.config.public_url}/replicate"


def _prediction(sim: SimState, task: SimTask, now: float) -> dict[str, Any]:
    """The prediction as ``GET /v1/predictions/{id}`` shows it at ``now``."""
    snapshot = _state(task, now)
    extra = task.extra
    url = f"{_base(sim)}/v1/predictions/{task.id}"
    body: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "version": extra["version"],
        "input": extra["input"],
        "logs": _logs(task, snapshot),
        "output": None,
        "data_removed": False,
        "error": snapshot.error,
        "status": snapshot.status,
        "source": "api",
        "created_at": _iso(task.created_at),
        "urls": {"get": url, "cancel": url + "/cancel", "web": f"{_base(sim)}/p/{task.id}"},
    }
    if extra.get("deadline") is not None:
        body["deadline"] = _iso(extra["deadline"])
    if snapshot.started_at is not None:
        body["started_at"] = _iso(snapshot.started_at)
    ttl = sim.config.url_ttl
    if snapshot.completed_at is not None:
        body["completed_at"] = _iso(snapshot.completed_at)
        predict = snapshot.completed_at - (snapshot.started_at or snapshot.completed_at)
        body["metrics"] = {
            "predict_time": round(predict, 6),
            "total_time": round(snapshot.completed_at - task.created_at, 6),
        }
        removed = now >= snapshot.completed_at + ttl or (
            "expired-url" in task.faults and extra.get("output_shown")
        )
        if removed:
            return {**body, "input": {}, "logs": "", "data_removed": True}
        ttl = snapshot.completed_at + ttl - now
    has_output = snapshot.status == "succeeded" and "missing-output" not in task.faults
    early = snapshot.status == "processing" and snapshot.progress >= _EARLY_OUTPUT
    if has_output or early:
        body["output"] = sim.signed_url(task, ttl=ttl)
    return body


# -- webhooks ----------------------------------------------------------------------------------


def _deliver(sim: SimState, task: SimTask, body: dict[str, Any]) -> None:
    secret = webhook_secret(sim)

    def headers_for(raw: bytes) -> dict[str, str]:
        message_id = "msg_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
        timestamp = int(time.time())
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, raw),
        }

    sim.send_webhook(
        task.extra["webhook"], body, faults=task.faults, headers_for=headers_for, kind=PROVIDER
    )


async def _watch(sim: SimState, task: SimTask) -> None:
    """Send the prediction's webhooks as its state changes, until it is finished."""
    events: list[str] = task.extra["webhook_events"]
    limit = time.monotonic() + WATCH_LIMIT
    if "start" in events:
        _deliver(sim, task, _prediction(sim, task, time.time()))
    last_logs = ""
    logs_sent_at = 0.0
    output_sent = False
    while time.monotonic() < limit and sim.tasks.get(task.id) is task:
        now = time.time()
        body = _prediction(sim, task, now)
        if body["status"] in TERMINAL:
            if "completed" in events:
                _deliver(sim, task, body)
            return
        if "output" in events and body["output"] is not None and not output_sent:
            output_sent = True
            _deliver(sim, task, body)
        elif (
            "logs" in events
            and body["logs"] != last_logs
            and now - logs_sent_at >= WEBHOOK_THROTTLE
        ):
            last_logs, logs_sent_at = body["logs"], now
            _deliver(sim, task, body)
        await asyncio.sleep(0.05)


def _start_watching(sim: SimState, task: SimTask) -> None:
    watcher = asyncio.get_running_loop().create_task(_watch(sim, task))
    _WATCHERS.add(watcher)
    watcher.add_done_callback(_WATCHERS.discard)


# -- create ------------------------------------------------------------------------------------


def _request_key(request: Request, raw: bytes) -> str:
    """What makes two creates "the same request" (a client's retry): our reference, else the
    body and the fault header."""
    reference = request.headers.get(REFERENCE_HEADER)
    if reference:
        return "ref:" + reference
    digest = hashlib.sha256(raw + (request.headers.get(FAULT_HEADER) or "").encode())
    return "body:" + digest.hexdigest()


def _resolve_version(version: Any) -> tuple[str, str] | JSONResponse:
    """``(model, version as shown)`` for a ``POST /v1/predictions`` ``version``."""
    invalid = _problem(
        422,
        "Invalid version or not permitted",
        "The specified version does not exist (or perhaps you don't have permission to use it?)",
    )
    if not isinstance(version, str) or not version:
        return invalid
    if version in MODELS:  # official models may be named owner/name
        return version, "hidden"
    name, _, version_id = version.rpartition(":")
    if name:
        schema = MODELS.get(name)
        return (name, version_id) if schema and schema.version == version_id else invalid
    for model, schema in MODELS.items():
        if schema.version == version:
            return model, version
    return invalid


def _webhook_problems(body: dict[str, Any]) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    url = body.get("webhook")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("https://", "http://"))
    ):
        problems.append(
            {"type": "format", "field": "webhook", "description": "webhook must be a valid URL"}
        )
    events = body.get("webhook_events_filter")
    if events is not None and (
        not isinstance(events, list) or not events or not set(events) <= set(EVENTS)
    ):
        problems.append(
            {
                "type": "enum",
                "field": "webhook_events_filter",
                "description": "webhook_events_filter items must be one of the following: "
                + ", ".join(EVENTS),
            }
        )
    return problems


def _new_id() -> str:
    """A Replicate-style prediction id: 26 lowercase base32 characters."""
    return base64.b32encode(secrets.token_bytes(20)).decode().lower()[:26]


def _create_headers(request: Request) -> tuple[str | None, float | None] | JSONResponse:
    """``Prefer`` and ``Cancel-After`` (in seconds), or the 400 for a malformed one."""
    prefer = request.headers.get("prefer")
    if prefer is not None and not _PREFER.match(prefer.strip()):
        return _problem(400, "Bad request", "Prefer must be 'wait' or 'wait=N' with N in 1..60.")
    if "cancel-after" not in request.headers:
        return prefer, None
    cancel_after = parse_duration(request.headers["cancel-after"])
    if cancel_after is None or cancel_after < MIN_CANCEL_AFTER:
        return _problem(
            400,
            "Bad request",
            f"Cancel-After must be a duration such as 30s, 5m or 1h30m of at least "
            f"{MIN_CANCEL_AFTER:g}s.",
        )
    return prefer, cancel_after


def _resolve_model(body: dict[str, Any], model_name: str | None) -> tuple[str, str] | JSONResponse:
    """``(model, version as shown)``: from the path, else from the body's ``version``."""
    if model_name is None:
        return _resolve_version(body.get("version"))
    if model_name not in MODELS:
        return _not_found()
    return model_name, "hidden"


async def _hold(sim: SimState, task: SimTask, prefer: str | None) -> dict[str, Any]:
    """``Prefer: wait=N``: the prediction once it is finished or has its output, or after N s."""
    prediction = _prediction(sim, task, time.time())
    if prefer is None:
        return prediction
    hold = min(float(prefer.strip().partition("=")[2] or MAX_WAIT), MAX_WAIT)
    until = time.monotonic() + hold
    while prediction["status"] not in TERMINAL and prediction["output"] is None:
        if time.monotonic() >= until:
            break
        await asyncio.sleep(0.05)
        prediction = _prediction(sim, task, time.time())
    return prediction


async def _read_create(request: Request) -> tuple[bytes, dict[str, Any], Faults] | JSONResponse:
    """The raw body, the parsed body and the faults the request names."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return _problem(400, "Bad request", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return _problem(400, "Bad request", "The request body must be a JSON object.")
    values = body.get("input")
    prompt = values.get("prompt") if isinstance(values, dict) else None
    try:
        requested = parse_faults(
            request.headers.get(FAULT_HEADER), prompt if isinstance(prompt, str) else None
        )
    except UnknownFault as exc:
        return _problem(400, "Bad request", str(exc))
    return raw, body, requested


async def _create(request: Request, model_name: str | None) -> Response:
    sim = sim_state(request)
    read = await _read_create(request)
    if isinstance(read, JSONResponse):
        return read
    raw, body, requested = read
    values = body.get("input")
    drawn = sim.config.profile.draw(_CREATE_FAULTS)
    faults = requested.merged(drawn)
    key = _request_key(request, raw)

    def fires(name: str) -> bool:
        if name in drawn:
            return True
        return name in requested and sim.first_time(name, key)

    gate = _gate(request, faults)
    if gate is not None:
        return gate
    headers = _create_headers(request)
    if isinstance(headers, JSONResponse):
        return headers
    prefer, cancel_after = headers
    resolved = _resolve_model(body, model_name)
    if isinstance(resolved, JSONResponse):
        return resolved
    model_name, version = resolved
    schema = MODELS[model_name]
    if "invalid" in faults:
        return _invalid(
            [{"type": "custom", "field": "input", "description": "simulated invalid input"}]
        )
    problems = validate_input(schema, values) + _webhook_problems(body)
    if problems:
        return _invalid(problems)
    assert isinstance(values, dict)
    if "no-credits" in faults:
        return _problem(402, "Insufficient credit", _NO_CREDIT)
    for name, with_header in (("429", True), ("429-no-retry-after", False)):
        if fires(name):
            after = faults.value("retry-after", faults.value(name, 1.0))
            return _throttled(after, with_header)
    if fires("500-create"):
        return _server_error()

    spec = _render_spec(schema, values, strip_markers(str(values["prompt"])))
    now = time.time()
    model_error = next((m for check in schema.checks if (m := check(values))), None)
    webhook = body.get("webhook")
    task = sim.add(
        SimTask(
            id=_new_id(),
            provider=PROVIDER,
            spec=spec,
            faults=faults,
            latency=sim.config.latency,
            created_at=now,
            reference=request.headers.get(REFERENCE_HEADER),
            model=model_name,
            extra={
                "input": values,
                "version": version,
                "deadline": now + cancel_after if cancel_after is not None else None,
                "webhook": webhook,
                "webhook_events": list(body.get("webhook_events_filter") or EVENTS),
                "model_error": model_error,
                "headers": {
                    "prefer": prefer,
                    "cancel-after": request.headers.get("cancel-after"),
                },
            },
        )
    )
    if webhook:
        _start_watching(sim, task)
    if fires("500-after-create"):
        return _server_error()
    prediction = await _hold(sim, task, prefer)
    finished = prediction["status"] in TERMINAL
    return JSONResponse(
        prediction,
        status_code=201 if finished or prefer is None else 202,
        headers={"Location": prediction["urls"]["get"]},
    )


# -- routes ------------------------------------------------------------------------------------


@router.post("/v1/models/{owner}/{name}/predictions")
async def create_for_model(request: Request, owner: str, name: str) -> Response:
    return await _create(request, f"{owner}/{name}")


@router.post("/v1/predictions")
async def create_for_version(request: Request) -> Response:
    return await _create(request, None)


def _call_faults(request: Request) -> Faults | JSONResponse:
    try:
        faults = parse_faults(request.headers.get(FAULT_HEADER))
    except UnknownFault as exc:
        return _problem(400, "Bad request", str(exc))
    gate = _gate(request, faults)
    return gate if gate is not None else faults


@router.get("/v1/predictions")
async def list_predictions(
    request: Request,
    cursor: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
) -> Response:
    sim = sim_state(request)
    faults = _call_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    if fires_429(sim, faults):
        return _throttled(faults.value("retry-after", 1.0), True)

    def moment(text: str | None) -> float | None:
        if not text:
            return None
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    try:
        after, before = moment(created_after), moment(created_before)
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except (ValueError, binascii.Error):
        return _problem(400, "Bad request", "Invalid cursor or date.")
    tasks = sorted(
        (
            t
            for t in sim.tasks.values()
            if t.provider == PROVIDER
            and not t.deleted
            and (after is None or t.created_at >= after)
            and (before is None or t.created_at < before)
        ),
        key=lambda t: t.created_at,
        reverse=True,
    )
    now = time.time()
    page = [_prediction(sim, t, now) for t in tasks[offset : offset + PAGE_SIZE]]

    def link(start: int) -> str:
        query = {"cursor": base64.urlsafe_b64encode(str(start).encode()).decode()}
        query.update({k: v for k, v in (("created_after", created_after),) if v})
        query.update({k: v for k, v in (("created_before", created_before),) if v})
        return f"{_base(sim)}/v1/predictions?{urlencode(query)}"

    return JSONResponse(
        {
            "next": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < len(tasks) else None,
            "previous": link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
            "results": page,
        }
    )


def fires_429(sim: SimState, faults: Faults) -> bool:
    """A ``429`` named on a read (header) or drawn from the profile."""
    return "429" in faults or "429" in sim.config.profile.draw(["429"])


@router.get("/v1/predictions/{prediction_id}")
async def get_prediction(request: Request, prediction_id: str) -> Response:
    sim = sim_state(request)
    faults = _call_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    task = sim.get(PROVIDER, prediction_id)
    if task is None:
        return _not_found()
    drawn = sim.config.profile.draw(["500-poll"])
    if task.first_polls_fail() or "500-poll" in faults or "500-poll" in drawn:
        return _server_error()
    if fires_429(sim, faults):
        return _throttled(faults.value("retry-after", 1.0), True)
    prediction = _prediction(sim, task, time.time())
    if prediction["status"] == "succeeded" and prediction["output"] is not None:
        task.extra["output_shown"] = True
    return JSONResponse(prediction)


@router.post("/v1/predictions/{prediction_id}/cancel")
async def cancel_prediction(request: Request, prediction_id: str) -> Response:
    sim = sim_state(request)
    faults = _call_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    task = sim.get(PROVIDER, prediction_id)
    if task is None:
        return _not_found()
    now = time.time()
    if _state(task, now).status not in TERMINAL:
        task.canceled_at = now
    return JSONResponse(_prediction(sim, task, now))


@router.get("/v1/webhooks/default/secret")
async def default_webhook_secret(request: Request) -> Response:
    sim = sim_state(request)
    faults = _call_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    return JSONResponse({"key": webhook_secret(sim)})
