"""``fal``: fal's queue API (``queue.fal.run``), spoken directly with httpx.

The wire contract is section 2 of the provider research (``replicate-fal-veo.md``); the simulator
twin is :mod:`vidgate.simulator.fal`. What this adapter knows about fal:

- **Requests.** Every call carries ``Authorization: Key $FAL_KEY`` (``key_id:key_secret``); the
  submit also carries ``X-Vidgate-Reference`` (fal ignores it; the simulator counts creates by
  it). The submit goes to the *full* endpoint id (``POST /fal-ai/kling-video/v2.1/master/
  text-to-video``) with the flat input JSON. The endpoint is the model id; the input names,
  value formats (``"5"``, ``"8s"``) and value tables (``2160p`` → ``"4k"``) come from the model's
  ``wire`` table in ``catalog/data/fal.toml``: nothing here branches on a model id. Images go as
  an https URL or a ``data:`` URI as given; a local file is sent inline as a data URI.
- **Remote ids.** Status, result and cancel live under the first two path segments only
  (``{owner}/{app}``), at the ``status_url`` / ``response_url`` / ``cancel_url`` the submit
  returns. ``poll`` gets only the remote id, so the remote id is ``<owner>/<app>|<request_id>``,
  the app taken from the returned ``response_url`` (the catalogue's ``wire.app`` when that URL
  cannot be read). The URLs are then rebuilt on the configured base URL, which gives the same URLs
  when fal answers with its own host, and never sends the key to any other origin.
- **Answers.** Status is ``IN_QUEUE`` (queued) → ``IN_PROGRESS`` (running; status reads ask for
  ``logs=1`` and take the progress from a "NN%" in the last log line, fal having no progress
  field) → ``COMPLETED`` (HTTP 202 until then, 200 at the end). There is no failed status: at
  ``COMPLETED`` the result is fetched at once, and a failure is the stored error it replays, in
  either of fal's two formats (:func:`failure_error`): a ``detail`` list (422; a
  ``content_policy_violation`` item is :class:`ContentRejected`, any other item
  :class:`ProviderRejectedRequest`) or ``{"detail": "…", "error_type": "…"}`` (runner failures,
  :class:`GenerationFailed`; timeouts and lost runners are marked ``retry_later``). A result
  that fails without the status having reported an error (a 5xx) is a transient failure to
  read it, raised as retryable; a result that is gone (404; fal keeps results one hour) is a
  failed generation. Success is ``{"video": {"url": …}}``; without it, a failed generation.
- **Errors.** 401 is :class:`ProviderAuthError`; 402, or a 403 about the balance ("User is
  locked"), is :class:`InsufficientCredits`; other 403s are auth errors; a 422 ``detail`` list is
  classified as above; 429 is :class:`RateLimited` (with ``Retry-After`` when given); a 504
  with ``X-Fal-Request-Timeout-Type: user`` is a failed generation, not retried. The rest follow
  the status code (:func:`vidgate.providers._errors.error_for_status`), ``error_type`` kept as the
  provider code.
- **No lookup by reference.** fal's queue keeps no client reference and lists no requests, so
  ``supports_lookup`` is False: an ambiguous submit (a timeout or 5xx after sending) stops the job
  with ``submit_uncertain`` rather than pay twice.
- **Cancel** is ``PUT …/cancel``: 202 ``CANCELLATION_REQUESTED`` (or 200 ``OK``) is a cancel; 400
  ``ALREADY_COMPLETED`` and 404 are not. A cancelled request ends ``COMPLETED`` with an error
  whose type fal does not document; any error type or message that says "cancel" is read as
  cancelled.
- **Downloads** are fetched at once from fal's public CDN, without the key. A refused URL is
  looked up again in the result once; if that does not help, the media is gone (fal deletes
  expired files for good) and the generation is failed.
- **Webhooks.** When ``submission.callback_url`` is set, fal is given ``fal_webhook=<callback
  url>/<app token>`` (the app, ``/`` written ``~``), because a delivery names only the request id
  and the remote id needs the app too. ``parse_webhook`` verifies the Ed25519 signature
  (``X-Fal-Webhook-Signature``, hex, over ``request_id\\nuser_id\\ntimestamp\\nhex(sha256(body))``)
  against any key of the JWKS at ``VIDGATE_FAL_JWKS_URL`` (fal's documented
  ``https://rest.fal.ai/.well-known/jwks.json`` by default; the simulator's own under it), cached
  for an hour and read again (at most once a minute) when no cached key verifies; the timestamp
  must be within 300 s of now. Anything else raises :class:`ProviderAuthError`.

The API key never appears in an error message or the request log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
    SubmitUncertain,
    UnsupportedRequest,
)
from ..settings import Settings
from ._errors import error_for_status, parse_retry_after, request_id_of, transport_error
from ._http import download_to, make_client
from .base import (
    OutputRef,
    Provider,
    Submission,
    SubmitResult,
    TaskState,
    TaskStatus,
    WebhookEvent,
)

__all__ = [
    "DEFAULT_JWKS_URL",
    "DEFAULT_QUEUE_URL",
    "FalProvider",
    "app_token",
    "build_input",
    "failure_error",
    "split_remote_id",
]

QUEUE_URL_VARIABLE = "VIDGATE_FAL_QUEUE_URL"
JWKS_URL_VARIABLE = "VIDGATE_FAL_JWKS_URL"
DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
#: Where the JWKS is, relative to the simulator's address.
SIMULATOR_JWKS_PATH = "/fal/.well-known/jwks.json"
REFERENCE_HEADER = "X-Vidgate-Reference"
#: Webhook deliveries older or newer than this (seconds) are refused as stale or replayed.
WEBHOOK_TOLERANCE = 300.0
#: How long fetched JWKS keys are trusted (fal's guidance: at most a day; keys rotate).
JWKS_TTL = 3600.0
#: A signature no cached key verifies reads the JWKS again, but no more often than this.
JWKS_REFETCH_AFTER = 60.0

#: ``error_type`` values of infrastructure failures: worth trying again later.
TRANSIENT_ERROR_TYPES = frozenset(
    {
        "request_timeout",
        "startup_timeout",
        "runner_scheduling_failure",
        "runner_connection_timeout",
        "runner_disconnected",
        "runner_connection_refused",
        "runner_connection_error",
        "runner_incomplete_response",
        "runner_server_error",
        "internal_error",
    }
)
CONTENT_POLICY = "content_policy_violation"
#: Download answers that mean "this URL no longer works".
_URL_REFUSED = frozenset({401, 403, 404, 410})
_BILLING = re.compile(r"balance|locked|billing|credit|payment", re.IGNORECASE)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_APP = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+$")
_STATUS_CODE = re.compile(r"status code:?\s*(\d{3})", re.IGNORECASE)

#: Image types fal's ``*_url`` inputs take inline, by their first bytes.
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


# -- remote ids and the app ----------------------------------------------------------------------


def app_of(model: ModelProfile) -> str:
    """The ``{owner}/{app}`` a model's requests live under: ``wire.app``, else the first two
    segments of the endpoint id."""
    app = model.wire.get("app")
    return str(app) if app else "/".join(model.id.split("/")[:2])


def split_remote_id(remote_id: str, provider: str = "fal") -> tuple[str, str]:
    """``"fal-ai/kling-video|<uuid>"`` → ``("fal-ai/kling-video", "<uuid>")``."""
    app, sep, request_id = remote_id.rpartition("|")
    if not sep or not _APP.match(app) or not request_id:
        raise ProviderError(
            f"{remote_id!r} is not a fal remote id (<owner>/<app>|<request id>)",
            provider=provider,
            provider_code="bad_remote_id",
        )
    return app, request_id


def app_token(app: str) -> str:
    """The app as one URL path segment (``fal-ai/kling-video`` → ``fal-ai~kling-video``)."""
    return app.replace("/", "~")


def _app_from_token(token: str | None) -> str | None:
    if not token:
        return None
    app = token.strip("/").replace("~", "/")
    return app if _APP.match(app) else None


def _with_token(callback_url: str, token: str) -> str:
    """``callback_url`` with ``token`` appended as a last path segment (query kept)."""
    parts = urlsplit(callback_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + token))


def _app_from_urls(answer: Mapping[str, Any], request_id: str, base: str) -> str | None:
    """The app in the submit answer's ``response_url`` (its path before ``/requests/<id>``,
    less the configured base URL's own path), if that URL reads as one."""
    url = answer.get("response_url")
    if not isinstance(url, str):
        return None
    path = urlsplit(url).path.rstrip("/")
    marker = f"/requests/{request_id}"
    if not path.endswith(marker):
        return None
    prefix = path[: -len(marker)]
    base_path = urlsplit(base).path.rstrip("/")
    if base_path and prefix.startswith(base_path + "/"):
        prefix = prefix[len(base_path) :]
    app = prefix.strip("/")
    return app if _APP.match(app) else None


# -- the input -----------------------------------------------------------------------------------


def _format(value: Any, how: str | None) -> Any:
    if how == "str_s":
        return f"{float(value):g}s"
    if how == "str":
        return f"{value:g}" if isinstance(value, float) else str(value)
    if how == "int":
        return round(float(value))
    if how == "bool":
        return bool(value)
    return value


def _table_key(value: Any) -> str:
    """A value as a ``wire.values`` key: ``"720p"``, ``"10"`` (not ``"10.0"``), ``"true"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _media_uri(ref: str, what: str) -> str:
    """A media input as fal takes it: an https URL or a data URI as they are; a local image file
    inline as a base64 data URI."""
    if ref.startswith(("https://", "data:")):
        return ref
    if "://" in ref:
        raise InvalidRequest(
            f"fal fetches {what} inputs over HTTPS only, not {ref.split('://', 1)[0]}://",
            details={"provider": "fal"},
        )
    path = Path(ref).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"{what} file not readable: {path} ({exc.strerror})") from None
    mime = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise InvalidRequest(f"fal takes PNG, JPEG, WebP or GIF images; {path} is none of these")
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def build_input(submission: Submission) -> dict[str, Any]:
    """The flat input JSON for ``submission``, built from the model's ``wire`` table alone:
    ``input`` names the fields (a field without an entry is not sent), ``format`` writes the
    values, ``values`` translates them, ``fixed`` is always sent."""
    model, request = submission.model, submission.request
    wire = model.wire
    names: dict[str, str] = wire["input"]
    formats: dict[str, str] = wire.get("format", {})
    tables: dict[str, dict[str, Any]] = wire.get("values", {})
    limit = wire.get("negative_prompt_max_chars")
    if request.negative_prompt and limit and len(request.negative_prompt) > int(limit):
        raise InvalidRequest(
            f"{model.ref} takes a negative prompt of at most {limit} characters "
            f"(this one has {len(request.negative_prompt)})",
            details={"provider": "fal", "model": model.id},
        )
    media = {"start_image": request.image, "end_image": request.last_frame, "video": request.video}
    for field, ref in media.items():
        if ref and field not in names:
            raise UnsupportedRequest(
                f"{model.ref} takes no {field.replace('_', ' ')} on fal",
                details={"provider": "fal", "model": model.id},
            )
    values: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "seed": request.seed,
        "fps": submission.fps,
        "audio": submission.audio,
    }
    body: dict[str, Any] = {}
    for field, value in values.items():
        if value is None or field not in names:
            continue
        table = tables.get(field, {})
        value = table.get(_table_key(value), value)
        body[names[field]] = _format(value, formats.get(field))
    for field, ref in media.items():
        if ref:
            body[names[field]] = _media_uri(ref, "video" if field == "video" else "image")
    body.update(wire.get("fixed", {}))
    return body


# -- failures ------------------------------------------------------------------------------------


def _describe_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc") or []
    where = ".".join(str(p) for p in loc if p != "body") or "input"
    return f"{where}: {item.get('msg') or item.get('type') or 'invalid'}"


def _is_cancel(error: Any, error_type: Any) -> bool:
    return any(isinstance(v, str) and "cancel" in v.lower() for v in (error, error_type))


def failure_error(
    remote_id: str | None,
    payload: Any,
    *,
    status_code: int | None = None,
    error: str | None = None,
    error_type: str | None = None,
    request_id: str | None = None,
    provider: str = "fal",
) -> ProviderError:
    """The vidgate error for a fal request that ended in an error, from whichever of fal's two
    formats ``payload`` (the result body, or a webhook's payload) has, else from the status's
    ``error`` / ``error_type``. Without ``remote_id`` it is the submit's own answer."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    subject = f"fal request {remote_id}" if remote_id else "fal's submit"
    where: dict[str, Any] = {"remote_id": remote_id} if remote_id else {}
    common: dict[str, Any] = {
        "provider": provider,
        "status_code": status_code,
        "request_id": request_id,
    }
    if isinstance(detail, list) and detail:
        items = [d for d in detail if isinstance(d, dict)] or [{"msg": str(detail[0])}]
        text = "; ".join(_describe_item(d) for d in items[:10])
        message = f"{subject} was refused ({status_code or 422}): {text}"
        policy = [d for d in items if d.get("type") == CONTENT_POLICY]
        if policy:
            loc = policy[0].get("loc") or []
            stage = "input" if loc and loc[0] == "body" else "output"
            categories = sorted({str(c) for d in policy for c in d.get("categories") or []})
            return ContentRejected(
                message,
                stage=stage,
                # Output checks run after the model did (unconfirmed whether fal bills them).
                charged=stage == "output",
                provider_code=CONTENT_POLICY,
                details={**where, "categories": categories},
                **common,
            )
        code = items[0].get("type")
        return ProviderRejectedRequest(
            message,
            provider_code=str(code) if code else None,
            details=where,
            **common,
        )
    kind = (payload.get("error_type") if isinstance(payload, dict) else None) or error_type
    text = detail if isinstance(detail, str) and detail else (error or "no reason given")
    message = f"{subject} failed ({kind or 'no error type'}): {text}"
    if kind == CONTENT_POLICY:
        return ContentRejected(
            message,
            stage="input",
            provider_code=CONTENT_POLICY,
            details=where,
            **common,
        )
    return GenerationFailed(
        message,
        provider_code=str(kind) if kind else None,
        details={**where, "retry_later": kind in TRANSIENT_ERROR_TYPES},
        **common,
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(payload: Any, response: httpx.Response) -> str:
    """The text of an error answer in either format (``detail`` list or string)."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, list) and detail:
        text = "; ".join(_describe_item(d) for d in detail[:10])
    elif isinstance(detail, str) and detail:
        text = detail
    else:
        text = response.text or response.reason_phrase
    return text[:300]


def _progress(logs: Any) -> float | None:
    """The last "NN%" in the log lines, as 0..1; fal reports progress only in log text."""
    if not isinstance(logs, list):
        return None
    for line in reversed(logs):
        message = line.get("message") if isinstance(line, dict) else None
        found = _PERCENT.search(message) if isinstance(message, str) else None
        if found:
            return min(max(float(found[1]) / 100, 0.0), 1.0)
    return None


def _outputs(remote_id: str, result: Any) -> list[OutputRef]:
    video = result.get("video") if isinstance(result, dict) else None
    url = video.get("url") if isinstance(video, dict) else None
    if not isinstance(url, str) or not url:
        return []
    content_type = video.get("content_type") if isinstance(video, dict) else None
    return [
        OutputRef(
            url=url,
            remote_id=remote_id,
            content_type=content_type if isinstance(content_type, str) else "video/mp4",
        )
    ]


def _missing_output(remote_id: str, provider: str, **details: Any) -> TaskStatus:
    error = GenerationFailed(
        f"fal reported request {remote_id} COMPLETED but its result has no video URL",
        provider=provider,
        provider_code="missing_output",
        details={"remote_id": remote_id, **details},
    )
    return TaskStatus(
        state=TaskState.FAILED, raw_status="COMPLETED", progress=1.0, error=error.to_dict()
    )


# -- webhook keys --------------------------------------------------------------------------------

_jwks_lock = threading.Lock()
#: JWKS URL → (monotonic time fetched, its Ed25519 keys).
_jwks_cache: dict[str, tuple[float, tuple[Ed25519PublicKey, ...]]] = {}


def _b64url(text: str) -> bytes:
    """base64url, with or without ``=`` padding (fal's live keys reportedly keep it)."""
    stripped = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def _parse_jwks(document: Any) -> tuple[Ed25519PublicKey, ...]:
    keys: list[Ed25519PublicKey] = []
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "OKP":
            continue
        if entry.get("crv") != "Ed25519" or not isinstance(entry.get("x"), str):
            continue
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(_b64url(entry["x"])))
        except (ValueError, binascii.Error):
            continue
    return tuple(keys)


# -- the provider --------------------------------------------------------------------------------


class FalProvider(Provider):
    """fal's queue API over httpx: submit, poll, cancel, download, signed webhooks. No lookup
    by reference."""

    name: ClassVar[str] = "fal"
    supports_lookup: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._base: str | None = None

    # -- plumbing --------------------------------------------------------------------------

    def queue_url(self) -> str:
        return self.setting_url(QUEUE_URL_VARIABLE, DEFAULT_QUEUE_URL, simulator_path="/fal")

    def jwks_url(self) -> str:
        return self.setting_url(
            JWKS_URL_VARIABLE, DEFAULT_JWKS_URL, simulator_path=SIMULATOR_JWKS_PATH
        )

    def _http(self) -> httpx.AsyncClient:
        """One client per event loop (its pooled connections belong to the loop). It carries no
        key: the key is added per queue call, so a download never sends it."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._client_loop is not loop:
            self._base = self.queue_url()
            self._client = make_client(
                self.name, base_url=self._base, timeout=self.settings.http_timeout
            )
            self._client_loop = loop
        return self._client

    def _scrub(self, error: ProviderError, key: str) -> ProviderError:
        """Make sure the key is not in the message, whatever the answer echoed."""
        if key and key in error.message:
            error.message = error.message.replace(key, "***")
            error.args = (error.message,)
        return error

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, str]:
        """One queue call with the key; the answer whatever its status, and the key used."""
        key = self.require_key()
        sent = {"Authorization": f"Key {key}", **(headers or {})}
        try:
            response = await self._http().request(
                method, path, json=body, params=params, headers=sent
            )
        except httpx.HTTPError as exc:
            # ``from None``: the httpx error holds the request, and the request holds the key.
            raise self._scrub(transport_error(self.name, exc), key) from None
        return response, key

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        response, key = await self._send(method, path, body=body, params=params, headers=headers)
        if response.status_code >= 400:
            raise self._scrub(self._http_error(response), key)
        return response

    def _http_error(self, response: httpx.Response) -> ProviderError:
        """fal's error answer as a vidgate error: the status decides, the body refines."""
        payload = _json(response)
        message = _message(payload, response)
        status = response.status_code
        error_type = (payload.get("error_type") if isinstance(payload, dict) else None) or (
            response.headers.get("x-fal-error-type")
        )
        request_id = response.headers.get("x-fal-request-id") or request_id_of(response)
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "request_id": request_id,
            "provider_code": error_type,
        }
        if status == 401:
            return ProviderAuthError(f"fal answered 401: {message} (check FAL_KEY)", **common)
        if status in (402, 403) and (status == 402 or _BILLING.search(message)):
            return InsufficientCredits(
                f"fal answered {status}: {message} Top up the fal account's balance.", **common
            )
        if status == 403:
            return ProviderAuthError(f"fal answered 403: {message} (check FAL_KEY)", **common)
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if status == 422 and isinstance(detail, list):
            return failure_error(None, payload, status_code=status, request_id=request_id)
        if status == 429:
            return RateLimited(
                f"fal answered 429: {message}",
                retry_after=parse_retry_after(response.headers),
                **common,
            )
        if status == 504 and response.headers.get("x-fal-request-timeout-type") == "user":
            return GenerationFailed(f"fal answered 504 (our start timeout): {message}", **common)
        return error_for_status(self.name, response, message, provider_code=error_type)

    # -- the job lifecycle -----------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmitResult:
        model = submission.model
        body = await asyncio.to_thread(build_input, submission)
        params: dict[str, str] = {}
        if submission.callback_url:
            params["fal_webhook"] = _with_token(submission.callback_url, app_token(app_of(model)))
        response = await self._call(
            "POST",
            "/" + quote(model.id.strip("/"), safe="/"),
            body=body,
            params=params,
            headers={REFERENCE_HEADER: submission.reference},
        )
        answer = _json(response)
        request_id = answer.get("request_id") if isinstance(answer, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise SubmitUncertain(
                f"fal accepted the submit (HTTP {response.status_code}) but its answer has no "
                f"request_id; not submitting again (reference {submission.reference})",
                provider=self.name,
                status_code=response.status_code,
                request_id=response.headers.get("x-fal-request-id"),
            )
        assert isinstance(answer, dict)
        app = _app_from_urls(answer, request_id, self._base or self.queue_url()) or app_of(model)
        return SubmitResult(remote_id=f"{app}|{request_id}", state=TaskState.QUEUED)

    def _request_path(self, remote_id: str) -> str:
        app, request_id = split_remote_id(remote_id, self.name)
        return f"/{quote(app, safe='/')}/requests/{quote(request_id, safe='')}"

    async def poll(self, remote_id: str) -> TaskStatus:
        path = self._request_path(remote_id)
        try:
            response = await self._call("GET", path + "/status", params={"logs": "1"})
        except ProviderError as exc:
            if exc.status_code == 404:
                raise GenerationFailed(
                    f"fal has no request {remote_id} (it expired, or never existed)",
                    provider=self.name,
                    status_code=404,
                    provider_code="request_not_found",
                    request_id=exc.request_id,
                ) from None
            raise
        data = _json(response)
        if not isinstance(data, dict):
            raise ProviderUnavailable(
                f"fal answered a status read for {remote_id} with a body that is not JSON",
                provider=self.name,
                status_code=response.status_code,
            )
        raw = str(data.get("status", ""))
        if raw == "IN_QUEUE":
            return TaskStatus(state=TaskState.QUEUED, progress=0.0, raw_status=raw)
        if raw == "COMPLETED":
            return await self._completed(remote_id, path, data)
        # IN_PROGRESS, or a status this adapter does not know: the request exists, unfinished.
        return TaskStatus(
            state=TaskState.RUNNING, progress=_progress(data.get("logs")), raw_status=raw
        )

    async def _completed(self, remote_id: str, path: str, status: dict[str, Any]) -> TaskStatus:
        """A ``COMPLETED`` request: fetch its result at once and say what it was."""
        error, error_type = status.get("error"), status.get("error_type")
        if _is_cancel(error, error_type):
            return TaskStatus(state=TaskState.CANCELED, raw_status="COMPLETED")
        response, key = await self._send("GET", path)
        payload = _json(response)
        request_id = response.headers.get("x-fal-request-id")
        if response.status_code < 300:
            if payload is None:
                raise ProviderUnavailable(
                    f"fal's result for {remote_id} is not JSON; reading it again",
                    provider=self.name,
                    status_code=response.status_code,
                )
            outputs = _outputs(remote_id, payload)
            if not outputs:
                return _missing_output(remote_id, self.name)
            return TaskStatus(
                state=TaskState.SUCCEEDED, progress=1.0, raw_status="COMPLETED", outputs=outputs
            )
        # The status reported an error, or the result replays a model's 4xx ``detail`` list:
        # the request failed. A 5xx on a request that finished cleanly is a failed *read*.
        refused = 400 <= response.status_code < 500 and (
            isinstance(payload, dict) and isinstance(payload.get("detail"), list)
        )
        if error or error_type or refused:
            failure = failure_error(
                remote_id,
                payload,
                status_code=response.status_code,
                error=error if isinstance(error, str) else None,
                error_type=error_type if isinstance(error_type, str) else None,
                request_id=request_id,
                provider=self.name,
            )
            return TaskStatus(
                state=TaskState.FAILED,
                raw_status="COMPLETED",
                progress=1.0,
                error=self._scrub(failure, key).to_dict(),
            )
        if response.status_code == 404:
            gone = GenerationFailed(
                f"fal no longer has the result of {remote_id} (results are kept one hour)",
                provider=self.name,
                status_code=404,
                provider_code="result_expired",
                request_id=request_id,
            )
            return TaskStatus(state=TaskState.FAILED, raw_status="COMPLETED", error=gone.to_dict())
        # Finished without an error, yet the result read failed: a transient failure to read.
        raise self._scrub(self._http_error(response), key)

    async def cancel(self, remote_id: str) -> bool:
        """Ask fal to cancel; True when it took the request (202 ``CANCELLATION_REQUESTED`` or
        200 ``OK``), False when it had already completed or is unknown."""
        response, key = await self._send("PUT", self._request_path(remote_id) + "/cancel")
        if response.status_code < 300:
            return True
        if response.status_code in (400, 404):
            return False  # ALREADY_COMPLETED / NOT_FOUND
        raise self._scrub(self._http_error(response), key)

    async def download(self, output: OutputRef, dest: Path) -> None:
        """Fetch the output from fal's CDN at once (no key). A refused URL is looked up again in
        the result once; media fal no longer has is a failed generation, not a transient one."""
        try:
            await download_to(self._http(), self.name, output.url, dest)
            return
        except ProviderError as exc:
            if exc.status_code not in _URL_REFUSED:
                raise
            first = exc
        fresh: str | None = None
        if output.remote_id:
            with contextlib.suppress(ProviderError):
                status = await self.poll(output.remote_id)
                same = [o.url for o in status.outputs if o.url != output.url]
                fresh = same[0] if same else None
        if fresh is not None:
            try:
                await download_to(self._http(), self.name, fresh, dest)
                return
            except ProviderError as exc:
                if exc.status_code not in _URL_REFUSED:
                    raise
                first = exc
        raise GenerationFailed(
            f"fal's output for {output.remote_id or '?'} can no longer be fetched "
            f"({first.status_code}); fal deletes expired media for good",
            provider=self.name,
            status_code=first.status_code,
            provider_code="output_gone",
            details={"remote_id": output.remote_id, "charged": True},
        )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            # RuntimeError: its event loop is gone, and the connections went with it.
            with contextlib.suppress(RuntimeError):
                await client.aclose()

    # -- webhooks --------------------------------------------------------------------------

    def _jwks(self, *, refresh: bool = False) -> tuple[Ed25519PublicKey, ...]:
        """fal's webhook keys from the JWKS URL, cached for ``JWKS_TTL``; ``refresh`` reads
        them again unless they were read in the last ``JWKS_REFETCH_AFTER`` seconds. A failed
        read falls back to keys read before, if any."""
        url = self.jwks_url()
        now = time.monotonic()
        with _jwks_lock:
            cached = _jwks_cache.get(url)
        if cached is not None:
            age = now - cached[0]
            if (not refresh and age < JWKS_TTL) or (refresh and age < JWKS_REFETCH_AFTER):
                return cached[1]
        try:
            # Synchronous: parse_webhook is; this runs at most once a minute.
            response = httpx.get(url, timeout=10.0, follow_redirects=True)
            keys = _parse_jwks(response.json()) if response.status_code == 200 else ()
            problem = f"HTTP {response.status_code}" if not keys else ""
        except (httpx.HTTPError, ValueError) as exc:
            keys, problem = (), f"{type(exc).__name__}: {exc}"
        if not keys:
            if cached is not None:
                return cached[1]
            raise ProviderAuthError(
                f"cannot verify a fal webhook: no Ed25519 key could be read from the JWKS at "
                f"{url.split('?')[0]} ({problem or 'no OKP/Ed25519 keys'})",
                provider=self.name,
            )
        with _jwks_lock:
            _jwks_cache[url] = (now, keys)
        return keys

    def _verified(self, message: bytes, signature: bytes) -> bool:
        for refresh in (False, True):
            for key in self._jwks(refresh=refresh):
                try:
                    key.verify(signature, message)
                    return True
                except InvalidSignature:
                    continue
        return False

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, url_token: str | None = None
    ) -> WebhookEvent:
        """Verify and read a fal webhook delivery.

        The ``X-Fal-Webhook-Signature`` must be a hex Ed25519 signature, by a key of the JWKS,
        of ``request_id + "\\n" + user_id + "\\n" + timestamp + "\\n" + hex(sha256(body))``
        (from the ``X-Fal-Webhook-Request-Id``, ``-User-Id`` and ``-Timestamp`` headers), and
        the timestamp within 300 s of now; otherwise ``ProviderAuthError``. ``url_token`` is the
        app token this adapter appended to the callback URL; with the body's ``request_id`` it
        makes the remote id. ``status: OK`` with a video is a success; ``ERROR`` a failure
        classified from its payload, as a result read would be."""
        lowered = {k.lower(): v for k, v in headers.items()}
        request_id = lowered.get("x-fal-webhook-request-id")
        user_id = lowered.get("x-fal-webhook-user-id")
        timestamp = lowered.get("x-fal-webhook-timestamp")
        signature = lowered.get("x-fal-webhook-signature")
        if not (request_id and user_id and timestamp and signature):
            raise ProviderAuthError(
                "a fal webhook arrived without the X-Fal-Webhook-Request-Id, -User-Id, "
                "-Timestamp and -Signature headers (unsigned)",
                provider=self.name,
            )
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise ProviderAuthError(
                "a fal webhook has a malformed X-Fal-Webhook-Timestamp", provider=self.name
            ) from None
        if abs(time.time() - sent_at) > WEBHOOK_TOLERANCE:
            raise ProviderAuthError(
                f"a fal webhook's timestamp is more than {WEBHOOK_TOLERANCE:g} s from now "
                "(stale or replayed)",
                provider=self.name,
            )
        try:
            raw_signature = bytes.fromhex(signature.strip())
        except ValueError:
            raw_signature = b""
        message = "\n".join(
            [request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]
        ).encode()
        if len(raw_signature) != 64 or not self._verified(message, raw_signature):
            raise ProviderAuthError(
                "a fal webhook's signature does not verify against fal's JWKS (forged, or "
                "altered on the way)",
                provider=self.name,
            )
        return self._webhook_event(body, request_id, url_token)

    def _webhook_event(self, body: bytes, signed_id: str, url_token: str | None) -> WebhookEvent:
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("request_id"), str):
            raise ProviderError(
                "a fal webhook's body is not a delivery with a request_id", provider=self.name
            )
        request_id: str = event["request_id"]
        if signed_id not in (request_id, event.get("gateway_request_id")):
            raise ProviderAuthError(
                "a fal webhook's body names another request than its signed header",
                provider=self.name,
            )
        app = _app_from_token(url_token)
        if app is None:
            raise ProviderError(
                "a fal webhook arrived without the app token vidgate appends to its callback "
                "URL, so its task cannot be named",
                provider=self.name,
            )
        remote_id = f"{app}|{request_id}"
        payload = event.get("payload")
        if event.get("status") == "OK":
            outputs = _outputs(remote_id, payload)
            if not outputs:
                status = _missing_output(
                    remote_id, self.name, payload_error=event.get("payload_error")
                )
            else:
                status = TaskStatus(
                    state=TaskState.SUCCEEDED,
                    progress=1.0,
                    raw_status="COMPLETED",
                    outputs=outputs,
                )
            return WebhookEvent(remote_id=remote_id, status=status)
        error = event.get("error") if isinstance(event.get("error"), str) else None
        error_type = payload.get("error_type") if isinstance(payload, dict) else None
        if _is_cancel(error, error_type):
            status = TaskStatus(state=TaskState.CANCELED, raw_status="COMPLETED")
            return WebhookEvent(remote_id=remote_id, status=status)
        code = _STATUS_CODE.search(error or "")
        failure = failure_error(
            remote_id,
            payload,
            status_code=int(code[1]) if code else None,
            error=error,
            provider=self.name,
        )
        status = TaskStatus(
            state=TaskState.FAILED, raw_status="COMPLETED", progress=1.0, error=failure.to_dict()
        )
        return WebhookEvent(remote_id=remote_id, status=status)
