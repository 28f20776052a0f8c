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
import json
import math
import re
import secrets
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ._common import CreateFaults, add_task, bearer_token, poll_fails
from ._replicate_predictions import PROVIDER, TERMINAL, _base, _prediction, _state
from ._replicate_schemas import MODELS, ModelSchema, Param, _render_spec, validate_input
from ._replicate_schemas import ParamKind as ParamKind
from ._replicate_webhooks import EVENTS, _start_watching, webhook_secret
from ._replicate_webhooks import WATCH_LIMIT as WATCH_LIMIT
from ._replicate_webhooks import WEBHOOK_THROTTLE as WEBHOOK_THROTTLE
from .faults import FAULT_HEADER, Faults, UnknownFault, drawable, parse_faults, strip_markers
from .state import SimState, SimTask, sim_state

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

#: Replicate's minimum ``Cancel-After``, in seconds (R-OAS). Tests lower it to stay fast.
MIN_CANCEL_AFTER = 5.0
#: The longest ``Prefer: wait`` hold, in seconds (the spec allows 1..60).
MAX_WAIT = 60.0
#: Predictions per list page (Replicate's page size).
PAGE_SIZE = 100

_PREFER = re.compile(r"^wait(=([1-9]|[1-9][0-9]|60))?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")

_UNAUTHENTICATED = "You did not pass a valid authentication token"
_NO_CREDIT = (
    "You have insufficient credit to run this model. Go to "
    "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
    "credit, please wait a few minutes before trying again."
)

#: The faults a create may draw from the global profile.
_CREATE_FAULTS = drawable(exclude={"moderation-after"})


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


def _gate(request: Request, faults: Faults) -> JSONResponse | None:
    if bearer_token(request, ("bearer", "token")) is None or "auth" in faults:
        return _problem(401, "Unauthenticated", _UNAUTHENTICATED)
    return None


def _throttled(after: float, with_header: bool) -> JSONResponse:
    detail = f"Request was throttled. Your rate limit resets in ~{math.ceil(after)}s."
    headers = {"Retry-After": f"{after:g}"} if with_header else None
    return _problem(429, "Request was throttled", detail, headers=headers)


# -- create ------------------------------------------------------------------------------------


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
    create = CreateFaults.draw(sim, request, raw, requested, _CREATE_FAULTS)
    faults, fires = create.all, create.fires

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
    task_extra = {
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
    }
    task = add_task(
        sim,
        request,
        PROVIDER,
        spec,
        faults,
        model=model_name,
        extra=task_extra,
        task_id=_new_id(),
        created_at=now,
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
    if poll_fails(sim, task, faults):
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
        sim.poke(task)  # its ``completed`` webhook (if any) goes now
    return JSONResponse(_prediction(sim, task, now))


@router.get("/v1/webhooks/default/secret")
async def default_webhook_secret(request: Request) -> Response:
    sim = sim_state(request)
    faults = _call_faults(request)
    if isinstance(faults, JSONResponse):
        return faults
    return JSONResponse({"key": webhook_secret(sim)})
