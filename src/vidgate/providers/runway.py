"""``runway``: Runway's developer API (``api.dev.runwayml.com``), spoken directly with httpx.

The wire contract is section 2 of the provider research (``runway-luma-openai.md``); the
simulator twin is :mod:`vidgate.simulator.runway`. What this adapter knows about Runway:

- **Requests.** Every call carries ``Authorization: Bearer $RUNWAYML_API_SECRET`` and
  ``X-Runway-Version: 2024-11-06``; creates also carry ``X-Vidgate-Reference`` (Runway ignores
  it; the simulator counts creates by it). One create endpoint per mode, camelCase bodies, and
  ``ratio`` as an output size in pixels. Which endpoint, which field names and which ratio string
  all come from the model's ``wire`` table in ``catalog/data/runway.toml``; nothing here branches
  on a model id. Images go as an https URL (or a ``runway://`` / ``data:`` URI) as given; a local
  file is sent inline as a base64 data URI (Runway takes up to 5 MB that way).
- **Answers.** A create answers only ``{id, estimatedCost}``. ``GET /v1/tasks/{id}`` reports
  ``PENDING``/``THROTTLED`` (queued), ``RUNNING`` (with progress 0..1), ``SUCCEEDED`` (signed
  output URLs, re-signed on every read), ``FAILED`` (``failure`` + a dotted ``failureCode``) or
  ``CANCELLED``. Failure codes are classified in :data:`FAILURE_CODES`.
- **Errors.** A 400 saying "not enough credits" is :class:`InsufficientCredits`; a 429 is Runway's
  rolling *daily* generation quota (never concurrency: excess tasks wait as ``THROTTLED``), so it
  is :class:`RateLimited` with a message that says so.
- **What Runway lacks.** No webhooks (polling only; Runway asks for no more than one status read
  per task every 5 s, which this adapter asks the engine for when it talks to Runway itself), and
  no way to find a task by our reference: ``supports_lookup`` is False, so an ambiguous create
  (a timeout or 5xx after sending) stops the job with ``submit_uncertain`` rather than pay twice.
- **Cancel** is ``DELETE /v1/tasks/{id}``, which *deletes* a finished task; so the task is read
  first and a finished one is left alone.
- **Downloads** are fetched at once, without the API key (the URLs are signed). A URL refused as
  expired is replaced by a freshly signed one from the task, once.

The API key never appears in an error message or the request log.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from ..catalog.capabilities import EffectiveParams
from ..catalog.schema import ModelProfile
from ..exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    InvalidRequest,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    UnsupportedRequest,
)
from ..settings import Settings
from ._errors import error_for_status, parse_retry_after, request_id_of
from ._http import HttpProvider, created, download_to, gone_if_404, json_object, make_client
from .base import (
    Balance,
    OutputRef,
    ProviderCharge,
    Submission,
    SubmitResult,
    TaskState,
    TaskStatus,
)

__all__ = ["API_VERSION", "FAILURE_CODES", "RunwayProvider", "build_create", "failure_error"]

#: The only API version any runwayml SDK has sent so far; Runway rejects requests without it.
API_VERSION = "2024-11-06"
BASE_URL_VARIABLE = "VIDGATE_RUNWAY_BASE_URL"
REFERENCE_HEADER = "X-Vidgate-Reference"
#: Runway's polling guidance: no more than one status read per task every 5 s.
POLL_INTERVAL = 5.0
#: The largest image Runway takes inline as a data URI (encoded length).
DATA_URI_LIMIT = 5 * 1024 * 1024
#: Download answers that mean "this signed URL no longer works": fetch a fresh one.
_URL_REFUSED = frozenset({401, 403, 404, 410})

_STATES = {
    "PENDING": TaskState.QUEUED,
    "THROTTLED": TaskState.QUEUED,
    "RUNNING": TaskState.RUNNING,
    "SUCCEEDED": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
    "CANCELLED": TaskState.CANCELED,
}

#: Image types Runway accepts (JPEG, PNG, WebP; no GIF), by their first bytes.
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


# -- failure codes -----------------------------------------------------------------------------

_ErrorFactory = Callable[[str, dict[str, Any]], ProviderError]


def _rejected(stage: str) -> _ErrorFactory:
    def make(message: str, kw: dict[str, Any]) -> ProviderError:
        charged = bool(kw["details"].get("credits"))
        return ContentRejected(message, stage=stage, charged=charged, **kw)

    return make


def _failed(retry_later: bool) -> _ErrorFactory:
    def make(message: str, kw: dict[str, Any]) -> ProviderError:
        kw["details"]["retry_later"] = retry_later
        return GenerationFailed(message, **kw)

    return make


def _invalid(message: str, kw: dict[str, Any]) -> ProviderError:
    return ProviderRejectedRequest(message, **kw)


#: ``failureCode`` prefixes, most specific first (docs.dev.runwayml.com/errors/task-failures).
#: The set is open: an unknown code is a generation failure. ``retry_later`` marks failures
#: Runway calls transient: terminal for this attempt, but worth trying again (another provider
#: first, by the engine's fallback).
FAILURE_CODES: tuple[tuple[str, _ErrorFactory], ...] = (
    ("SAFETY.OUTPUT", _rejected("output")),
    ("SAFETY.INPUT", _rejected("input")),
    ("INPUT_PREPROCESSING.SAFETY", _rejected("input")),
    ("SAFETY", _rejected("input")),
    ("ASSET.INVALID", _invalid),
    ("INTERNAL.BAD_OUTPUT", _failed(retry_later=False)),
    ("INPUT_PREPROCESSING.INTERNAL", _failed(retry_later=True)),
    ("THIRD_PARTY.UNAVAILABLE", _failed(retry_later=True)),
    ("INTERNAL", _failed(retry_later=True)),
)


def failure_error(task: dict[str, Any], provider: str = "runway") -> ProviderError:
    """The vidgate error for a ``FAILED`` task, from its ``failureCode`` (or its absence)."""
    code = task.get("failureCode") or None
    failure = str(task.get("failure") or "no reason given")
    credits = (task.get("cost") or {}).get("credits")
    details: dict[str, Any] = {"remote_id": task.get("id"), "credits": credits}
    kw: dict[str, Any] = {"provider": provider, "provider_code": code, "details": details}
    message = f"Runway task {task.get('id')} failed ({code or 'no failure code'}): {failure}"
    if code is None:
        return _failed(retry_later=True)(message, kw)  # Runway: a missing code is generic
    for prefix, make in FAILURE_CODES:
        if code == prefix or code.startswith(prefix + "."):
            return make(message, kw)
    return _failed(retry_later=False)(message, kw)


# -- the create request ------------------------------------------------------------------------


def _format(value: float | bool, kind: str | None) -> Any:
    if kind == "int":
        return round(float(value))
    if kind == "bool":
        return bool(value)
    return value


def _image_uri(ref: str) -> str:
    """An image input as Runway takes it: https / runway:// / data: URIs as they are, a local
    file inline as a base64 data URI."""
    if ref.startswith(("https://", "runway://", "data:")):
        return ref
    if "://" in ref:
        raise InvalidRequest(
            f"Runway fetches image inputs over HTTPS only, not {ref.split('://', 1)[0]}://",
            details={"provider": "runway"},
        )
    path = Path(ref).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"image file not readable: {path} ({exc.strerror})") from None
    mime = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise InvalidRequest(f"Runway takes JPEG, PNG or WebP images; {path} is none of these")
    uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    if len(uri) > DATA_URI_LIMIT:
        raise InvalidRequest(
            f"{path} is too large to send inline ({len(uri) / 2**20:.1f} MB encoded; Runway "
            "takes up to 5 MB as a data URI): pass an https URL to it instead"
        )
    return uri


def build_create(submission: Submission) -> tuple[str, dict[str, Any]]:
    """The endpoint path and camelCase JSON body for ``submission``, from the model's ``wire``
    table in the catalogue."""
    model, request = submission.model, submission.request
    wire = model.wire
    names: dict[str, str] = wire["input"]
    formats: dict[str, str] = wire.get("format", {})
    endpoint = wire["endpoints"].get(request.mode.value)
    if endpoint is None:
        raise UnsupportedRequest(
            f"{model.ref} does not offer {request.mode.value} on Runway's API",
            details={"provider": "runway", "model": model.id},
        )
    ratio = wire["ratio"].get(request.resolution, {}).get(request.aspect_ratio)
    if ratio is None:
        raise UnsupportedRequest(
            f"{model.ref} has no output size for {request.resolution} {request.aspect_ratio}",
            details={"provider": "runway", "model": model.id},
        )
    body: dict[str, Any] = {
        names["model"]: model.id,
        names["ratio"]: ratio,
        names["duration"]: _format(request.duration, formats.get("duration")),
        names["prompt"]: request.prompt,
    }
    optional: dict[str, Any] = {
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "audio": _format(submission.audio, formats.get("audio")),
    }
    for field, value in optional.items():
        if field in names and value is not None:
            body[names[field]] = value
    body.update(_frames(submission))
    return endpoint, body


def _frames(submission: Submission) -> dict[str, Any]:
    """The first / last frame fields: one key holding a string or ``[{uri, position}]`` when the
    model takes both frames in one field, else one key per frame."""
    wire, request = submission.model.wire, submission.request
    names: dict[str, str] = wire["input"]
    positions: list[str] = wire.get("image_positions", ["first"])
    frames = [
        (position, field, ref)
        for position, field, ref in (
            ("first", "start_image", request.image),
            ("last", "end_image", request.last_frame),
        )
        if ref
    ]
    for position, field, _ in frames:
        if position not in positions or field not in names:
            raise UnsupportedRequest(
                f"{submission.model.ref} does not take a {position} frame on Runway's API",
                details={"provider": "runway", "model": submission.model.id},
            )
    keys = {names[field] for _, field, _ in frames}
    if len(keys) == 1 and (len(frames) > 1 or frames[0][0] != "first"):
        [key] = keys
        return {key: [{"uri": _image_uri(ref), "position": pos} for pos, _, ref in frames]}
    return {names[field]: _image_uri(ref) for _, field, ref in frames}


# -- the provider ------------------------------------------------------------------------------


def _charge(task: dict[str, Any], state: TaskState) -> ProviderCharge | None:
    """A finished task's ``cost.credits``: the final charge (0 when refunded). A running
    task's figure is only ``estimatedCost``, a ceiling, so it is not a charge."""
    if not state.terminal:
        return None
    credits = (task.get("cost") or {}).get("credits")
    if isinstance(credits, bool) or not isinstance(credits, int | float) or credits < 0:
        return None
    return ProviderCharge(credits=float(credits), note=f"cost.credits = {credits:g}")


class RunwayProvider(HttpProvider):
    """Runway over httpx: submit, poll, cancel, download. No webhooks, no lookup by reference."""

    name: ClassVar[str] = "runway"
    supports_lookup: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._poll_after: float | None = None

    def expected_size(self, model: ModelProfile, params: EffectiveParams) -> tuple[int, int]:
        """Runway renders exactly the pixel size its ``ratio`` names (960:960 for 720p 1:1)."""
        ratio = model.wire.get("ratio", {}).get(params.resolution, {}).get(params.aspect_ratio)
        if ratio is None:
            return super().expected_size(model, params)
        width, height = (int(part) for part in ratio.split(":"))
        return width, height

    # -- plumbing --------------------------------------------------------------------------

    def _new_client(self) -> httpx.AsyncClient:
        """The base URL is settled with each client, with the polling hint that goes with it."""
        base = self.setting_url(BASE_URL_VARIABLE, simulator_path="/runway")
        official = (self.profile().base_url or "").rstrip("/")
        # Runway's 5 s guidance when talking to Runway; the engine's own interval against the
        # simulator or any other stand-in.
        self._poll_after = POLL_INTERVAL if base == official else None
        return make_client(self.name, base_url=base, timeout=60.0)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.authorized(method, path, json=body, headers=headers)

    def _credentials(self) -> tuple[dict[str, str], list[str]]:
        key = self.require_key()
        return {"Authorization": f"Bearer {key}", "X-Runway-Version": API_VERSION}, [key]

    def _answer_error(self, response: httpx.Response) -> ProviderError:
        """Runway's error answer as a vidgate error: the status decides, the body refines."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            message = payload["error"]
            issues = payload.get("issues")
            if isinstance(issues, list) and issues:
                message += ": " + "; ".join(_describe_issue(i) for i in issues[:10])
        else:
            message = response.text[:300] or response.reason_phrase
        status = response.status_code
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "request_id": request_id_of(response),
        }
        if status == 400 and "enough credits" in message.lower():
            return InsufficientCredits(
                f"runway answered 400: {message} Top up the organization's API credits.",
                **common,
            )
        if status == 401:
            return ProviderAuthError(
                f"runway answered 401: {message} (check RUNWAYML_API_SECRET)", **common
            )
        if status == 429:
            return RateLimited(
                f"runway answered 429: {message} Runway's 429 means the daily generation quota "
                "for this model is used up (a rolling 24 h window; concurrency never causes a "
                "429), so retries soon after are unlikely to pass",
                retry_after=parse_retry_after(response.headers),
                details={"quota": "daily"},
                **common,
            )
        return error_for_status(self.name, response, message)

    # -- the job lifecycle -----------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmitResult:
        path, body = await asyncio.to_thread(build_create, submission)
        response = await self._call(
            "POST", path, body=body, headers={REFERENCE_HEADER: submission.reference}
        )
        remote_id, data = created(self.name, response, submission.reference)
        estimate = (data.get("estimatedCost") or {}).get("credits")
        return SubmitResult(
            remote_id=remote_id,
            state=TaskState.QUEUED,
            credits_estimate=float(estimate) if estimate is not None else None,
        )

    async def _task(self, remote_id: str) -> dict[str, Any]:
        try:
            response = await self._call("GET", f"/v1/tasks/{quote(remote_id, safe='')}")
        except ProviderError as exc:
            raise gone_if_404(
                exc,
                f"runway has no task {remote_id} (it was deleted, or never existed)",
                "task_not_found",
            ) from None
        try:
            task: dict[str, Any] = response.json()
        except ValueError:
            raise ProviderUnavailable(
                f"runway answered a status read for task {remote_id} with a body that is not JSON",
                provider=self.name,
                status_code=response.status_code,
            ) from None
        return task

    async def poll(self, remote_id: str) -> TaskStatus:
        task = await self._task(remote_id)
        raw = str(task.get("status", ""))
        # An unknown status is a task that exists and has not said it is finished.
        state = _STATES.get(raw, TaskState.RUNNING)
        status = TaskStatus(
            state=state, raw_status=raw, poll_after=self._poll_after, charge=_charge(task, state)
        )
        if state is TaskState.RUNNING:
            progress = task.get("progress")
            status.progress = float(progress) if isinstance(progress, int | float) else None
        elif state is TaskState.QUEUED:
            status.progress = 0.0
        elif state is TaskState.FAILED:
            status.error = failure_error(task, self.name).to_dict()
        elif state is TaskState.SUCCEEDED:
            urls = [u for u in task.get("output") or [] if isinstance(u, str) and u]
            if not urls:
                cost = (task.get("cost") or {}).get("credits")
                error = GenerationFailed(
                    f"runway reported task {remote_id} SUCCEEDED but gave no output URL",
                    provider=self.name,
                    provider_code="missing_output",
                    details={"remote_id": remote_id, "credits": cost, "charged": bool(cost)},
                )
                return TaskStatus(
                    state=TaskState.FAILED,
                    raw_status=raw,
                    error=error.to_dict(),
                    progress=1.0,
                    charge=status.charge,
                )
            status.progress = 1.0
            status.outputs = [
                OutputRef(url=url, remote_id=remote_id, content_type="video/mp4") for url in urls
            ]
        return status

    async def balance(self) -> Balance | None:
        """``GET /v1/organization``: the organization's ``creditBalance``."""
        data = json_object(self.name, await self._call("GET", "/v1/organization"))
        credits = data.get("creditBalance")
        if isinstance(credits, bool) or not isinstance(credits, int | float):
            return None
        return Balance(credits=float(credits))

    async def cancel(self, remote_id: str) -> bool:
        """Cancel a queued or running task. Runway's DELETE deletes a finished task (and its
        output), so a task that has already finished is left alone and False is returned."""
        try:
            if (await self.poll(remote_id)).state.terminal:
                return False
            await self._call("DELETE", f"/v1/tasks/{quote(remote_id, safe='')}")
        except ProviderError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    async def download(self, output: OutputRef, dest: Path) -> None:
        try:
            await download_to(self._http(), self.name, output.url, dest)
            return
        except ProviderError as exc:
            if exc.status_code not in _URL_REFUSED or not output.remote_id:
                raise self._download_error(exc) from None
        fresh = await self._fresh_url(output)
        try:
            await download_to(self._http(), self.name, fresh, dest)
        except ProviderError as exc:
            raise self._download_error(exc, refreshed=True) from None

    async def _fresh_url(self, output: OutputRef) -> str:
        """The same output, signed afresh: Runway re-signs output URLs on every task read."""
        assert output.remote_id is not None
        status = await self.poll(output.remote_id)
        if status.state is not TaskState.SUCCEEDED:
            raise GenerationFailed(
                f"runway task {output.remote_id} no longer has an output "
                f"(status {status.raw_status})",
                provider=self.name,
                provider_code="output_gone",
            )
        path = urlsplit(output.url).path
        same = [o.url for o in status.outputs if urlsplit(o.url).path == path]
        return same[0] if same else status.outputs[0].url

    def _download_error(self, exc: ProviderError, *, refreshed: bool = False) -> ProviderError:
        """A refused output URL is not a problem with our key (the URL is signed and fetched
        without it): it is a transient failure to fetch a finished result."""
        if exc.status_code not in _URL_REFUSED:
            return exc
        note = " even after fetching a freshly signed one" if refreshed else ""
        return ProviderUnavailable(
            f"runway's output URL was refused ({exc.status_code}){note}: {exc.message}",
            provider=self.name,
            status_code=exc.status_code,
            request_id=exc.request_id,
        )


def _describe_issue(issue: Any) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    path = ".".join(str(p) for p in issue.get("path") or []) or "body"
    text = issue.get("message") or issue.get("code") or "invalid"
    values = issue.get("values")
    if values and "expected one of" not in str(text):
        text = f"{text} (allowed: {', '.join(map(str, values))})"
    return f"{path}: {text}"
