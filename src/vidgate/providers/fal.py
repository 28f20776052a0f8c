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

This module holds the provider and its HTTP calls; building a request from the catalogue is in
:mod:`vidgate.providers._fal_request`, reading fal's answers and failures in
:mod:`vidgate.providers._fal_answers`, and the webhook keys (JWKS) in
:mod:`vidgate.providers._fal_jwks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..catalog.schema import ModelProfile
from ..exceptions import (
    GenerationFailed,
    InsufficientCredits,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
)
from ..settings import Settings
from ._errors import (
    error_for_status,
    parse_retry_after,
    request_id_of,
    scrub_secret,
)
from ._fal_answers import CONTENT_POLICY as CONTENT_POLICY
from ._fal_answers import TRANSIENT_ERROR_TYPES as TRANSIENT_ERROR_TYPES
from ._fal_answers import _is_cancel, _json, _message, _missing_output, _outputs, _progress
from ._fal_answers import failure_error as failure_error
from ._fal_jwks import JWKS_REFETCH_AFTER as JWKS_REFETCH_AFTER
from ._fal_jwks import JWKS_TTL as JWKS_TTL
from ._fal_jwks import _jwks_cache as _jwks_cache
from ._fal_jwks import jwks_keys
from ._fal_request import _app_from_token, _app_from_urls, _with_token
from ._fal_request import app_of as app_of
from ._fal_request import app_token as app_token
from ._fal_request import build_input as build_input
from ._fal_request import split_remote_id as split_remote_id
from ._http import HttpProvider, check_webhook_time, download_to, gone_if_404, make_client
from .base import (
    OutputRef,
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

#: Download answers that mean "this URL no longer works".
_URL_REFUSED = frozenset({401, 403, 404, 410})
_BILLING = re.compile(r"balance|locked|billing|credit|payment", re.IGNORECASE)
_STATUS_CODE = re.compile(r"status code:?\s*(\d{3})", re.IGNORECASE)


# -- the provider --------------------------------------------------------------------------------


class FalProvider(HttpProvider):
    """fal's queue API over httpx: submit, poll, cancel, download, signed webhooks. No lookup
    by reference."""

    name: ClassVar[str] = "fal"
    supports_lookup: ClassVar[bool] = False

    def output_follows_image(self, model: ModelProfile) -> bool:
        """Models with ``wire.aspect_ratio_from_image`` shape their output like the first image."""
        return bool(model.wire.get("aspect_ratio_from_image"))

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._base: str | None = None

    # -- plumbing --------------------------------------------------------------------------

    def queue_url(self) -> str:
        return self.setting_url(QUEUE_URL_VARIABLE, DEFAULT_QUEUE_URL, simulator_path="/fal")

    def jwks_url(self) -> str:
        return self.setting_url(
            JWKS_URL_VARIABLE, DEFAULT_JWKS_URL, simulator_path=SIMULATOR_JWKS_PATH
        )

    def _new_client(self) -> httpx.AsyncClient:
        """It carries no key: the key is added per queue call, so a download never sends it."""
        self._base = self.queue_url()
        return make_client(self.name, base_url=self._base, timeout=self.settings.http_timeout)

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
        response = await self.authorized(
            method, path, json=body, params=params, headers=headers, check=False
        )
        return response, key

    def _credentials(self) -> tuple[dict[str, str], list[str]]:
        key = self.require_key()
        return {"Authorization": f"Key {key}"}, [key]

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
            raise scrub_secret(self._http_error(response), key)
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
            raise gone_if_404(
                exc,
                f"fal has no request {remote_id} (it expired, or never existed)",
                "request_not_found",
            ) from None
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
                error=scrub_secret(failure, key).to_dict(),
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
        raise scrub_secret(self._http_error(response), key)

    async def cancel(self, remote_id: str) -> bool:
        """Ask fal to cancel; True when it took the request (202 ``CANCELLATION_REQUESTED`` or
        200 ``OK``), False when it had already completed or is unknown."""
        response, key = await self._send("PUT", self._request_path(remote_id) + "/cancel")
        if response.status_code < 300:
            return True
        if response.status_code in (400, 404):
            return False  # ALREADY_COMPLETED / NOT_FOUND
        raise scrub_secret(self._http_error(response), key)

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

    # -- webhooks --------------------------------------------------------------------------

    def _jwks(self, *, refresh: bool = False) -> tuple[Ed25519PublicKey, ...]:
        """fal's webhook keys from the JWKS URL (:func:`jwks_keys`: cached, read again on
        ``refresh`` at most once a minute)."""
        return jwks_keys(self.jwks_url(), self.name, refresh=refresh)

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
        check_webhook_time(self.name, timestamp, "X-Fal-Webhook-Timestamp")
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
