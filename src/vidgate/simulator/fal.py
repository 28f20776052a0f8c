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
input types, independent of vidgate's catalogue so that it checks the adapter's mapping; it and
the validation live in :mod:`vidgate.simulator._fal_endpoints`, the webhook keys and signatures
in :mod:`vidgate.simulator._fal_signing`). As on
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
import hashlib
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
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ._common import CreateFaults, add_task, bearer_token, poll_fails
from ._fal_endpoints import ENDPOINTS as ENDPOINTS
from ._fal_endpoints import Endpoint as Endpoint
from ._fal_endpoints import Field as Field
from ._fal_endpoints import Kind as Kind
from ._fal_endpoints import _item, _render_spec
from ._fal_endpoints import app_of as app_of
from ._fal_endpoints import validate as validate
from ._fal_signing import _jwks
from ._fal_signing import sign_webhook as sign_webhook
from ._fal_signing import signing_key as signing_key
from ._fal_signing import webhook_headers as webhook_headers
from .faults import FAULT_HEADER, Faults, UnknownFault, drawable, parse_faults
from .state import SimState, SimTask, sim_state

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

#: The faults a submit may draw from the global profile (this twin has no ``webhook-late``).
_CREATE_FAULTS = drawable(exclude={"moderation-after", "webhook-late"})

#: A webhook watcher gives up on a request this long after its slowest possible finish.
_WATCH_GRACE = 600.0
#: How often the status stream (SSE) compares the request's status.
_WATCH_STEP = 0.05


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
    token = bearer_token(request, ("key",)) or ""
    key_id, colon, secret = token.partition(":")
    if not colon or not key_id or not secret:
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


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """The input without bulky data URIs (kept with the request for tests to inspect)."""

    def short(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            head, _, payload = value.partition(",")
            return f"{head},<{len(payload) * 3 // 4} bytes>"
        return value

    return {k: short(v) for k, v in body.items()}


# -- webhooks ------------------------------------------------------------------------------------


def _user_id(key_id: str) -> str:
    return "sim-user-" + hashlib.sha256(key_id.encode()).hexdigest()[:12]


def _watch(sim: SimState, task: SimTask, url: str, key: Ed25519PrivateKey) -> None:
    """POST the result to ``url`` once the request completes, signed as fal signs it: a look on
    the simulator's timer at each moment the request may change (and at once on a cancel)."""
    limit = task.created_at + task.latency * 5 + task.faults.value("moderation-after", 0.0)
    limit += _WATCH_GRACE

    def check(now: float) -> float | None:
        if task.deleted:
            return None
        state = outcome(sim, task, now)
        if state.status != "COMPLETED":
            return task.next_look(now, limit)  # None: hanging for good
        _deliver(sim, task, url, key, state)
        return None

    sim.watch(task, check)


def _deliver(
    sim: SimState, task: SimTask, url: str, key: Ed25519PrivateKey, state: Outcome
) -> None:
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
    if poll_fails(sim, task) or "500-poll" in (request.headers.get(FAULT_HEADER) or ""):
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
    sim.poke(task)  # its webhook (if any) says so now
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)


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
    create = CreateFaults.draw(
        sim, request, raw, requested, _CREATE_FAULTS, scope=endpoint_id.encode()
    )
    faults, fires = create.all, create.fires

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
    task_extra = {
        "app": app,
        "input": _summary(body),
        "issues": issues,
        "webhook": webhook,
        "key_id": key_id,
    }
    task = add_task(sim, request, PROVIDER, spec, faults, model=endpoint_id, extra=task_extra)
    _queues.setdefault(sim, deque()).append(task)
    if webhook:
        _watch(sim, task, webhook, signing_key(request.app.state))
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
