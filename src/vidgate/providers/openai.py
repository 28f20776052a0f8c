"""``openai``: OpenAI Sora through the Videos API (``/v1/videos``), spoken with httpx.

OpenAI deprecated the Videos API on 2026-03-24 and shut it down on 2026-09-24; the catalogue
marks ``sora-2`` / ``sora-2-pro`` retired, so routing skips them unless
``VIDGATE_ALLOW_RETIRED=openai`` is set (which is how this adapter runs against the simulator).

Wire contract: /work/shared/providers/runway-luma-openai.md section 4 (openai SDK 3.57.0).

- **Create** ``POST /videos`` as multipart/form-data, as the SDK sends it: ``prompt``, ``model``,
  ``seconds`` (a string), ``size`` (``"1280x720"``…) and, for image-to-video, an
  ``input_reference`` image part that OpenAI uses as the first frame. The field names, the
  duration format and the size for each resolution and aspect ratio come from the model's
  ``wire`` table in the catalogue. Our attempt reference travels as ``X-Vidgate-Reference``
  (OpenAI ignores it; there is no metadata field to carry it).
- **Poll** ``GET /videos/{id}``: ``queued → in_progress (progress 0-100) → completed | failed``.
  A completed video has no URL: its output is the content endpoint
  ``GET /videos/{id}/content`` (``?variant=thumbnail`` for the WebP thumbnail), which needs the
  API key and works until ``expires_at`` (about an hour).
- **Errors** arrive in OpenAI's envelope ``{"error": {"message", "type", "param", "code"}}``: a
  400 from moderation is ``content_rejected`` (input, not charged); a 429 with
  ``insufficient_quota`` or ``credit_balance_exhausted`` is ``insufficient_credits`` (OpenAI does
  not use 402); any other 429 is ``rate_limited`` with its ``Retry-After``; 401/403 is
  ``provider_auth``. A video that fails with ``moderation_blocked`` is ``content_rejected`` at
  the output stage; any other failure is ``generation_failed``.
- **No cancel.** OpenAI's only verb is ``DELETE /videos/{id}``, which deletes; whether deleting
  a running video stops it (and its billing) is not documented, so ``cancel`` deletes nothing
  and says it did not cancel.
- **Lookup** after an ambiguous create lists recent videos and matches prompt, model, seconds,
  size and creation time, since OpenAI keeps no client reference.
- **Webhooks** are project-level Standard Webhooks deliveries, verified with
  ``OPENAI_WEBHOOK_SECRET``; their payload names only the video.

The API key goes only to the configured base URL's origin, never to any other host, and never
into an error message or the request log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import json
import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from ..catalog.schema import ModelProfile
from ..exceptions import (
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    InvalidRequest,
    ProviderAuthError,
    ProviderError,
    SubmitUncertain,
    UnsupportedRequest,
)
from ..settings import Settings
from ._errors import error_for_status, request_id_of
from ._http import (
    HttpProvider,
    check_webhook_time,
    download_to,
    fetch_user_image,
    gone_if_404,
    json_object,
    make_client,
    same_origin,
)
from .base import (
    OutputRef,
    PollResult,
    Submission,
    SubmitResult,
    TaskState,
    TaskStatus,
    WebhookEvent,
)

__all__ = ["OpenAIProvider"]

BASE_URL_VARIABLE = "VIDGATE_OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
WEBHOOK_SECRET_VARIABLE = "OPENAI_WEBHOOK_SECRET"
REFERENCE_HEADER = "X-Vidgate-Reference"

_STATES = {
    "queued": TaskState.QUEUED,
    "in_progress": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
}
_QUOTA_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted"})
_MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
#: A listing page for ``find_by_reference``, and how many pages it reads at most.
_LOOKUP_PAGE_SIZE = 100
_LOOKUP_MAX_PAGES = 10
#: List pages (of ``_LOOKUP_PAGE_SIZE``, newest first) one ``poll_many`` reads before it polls
#: the rest one by one.
_POLL_PAGES = 10
#: Reference images fetched from a URL: at most this many bytes and redirects.
_IMAGE_MAX_BYTES = 25 * 1024 * 1024
_IMAGE_MAX_REDIRECTS = 3
_MESSAGE_LIMIT = 500
#: Headers that identify us to OpenAI, sent to the API's origin only.
_CREDENTIAL_HEADERS = ("Authorization", "OpenAI-Organization", "OpenAI-Project")


class OpenAIProvider(HttpProvider):
    """OpenAI's Videos API (Sora 2). See the module docstring for the wire behaviour."""

    name: ClassVar[str] = "openai"
    supports_lookup: ClassVar[bool] = True

    # -- plumbing --------------------------------------------------------------------------

    def base_url(self) -> str:
        """The API root, e.g. ``https://api.openai.com/v1`` (``VIDGATE_OPENAI_BASE_URL``
        points it at the simulator)."""
        return self.setting_url(BASE_URL_VARIABLE, DEFAULT_BASE_URL, simulator_path="/openai/v1")

    def _new_client(self) -> httpx.AsyncClient:
        # No default headers: the key is added per request for the API's own origin, and the
        # hook strips it from any request (a redirect included) to another origin.
        client = make_client(self.name, timeout=60.0)
        client.event_hooks = {"request": [self._strip_foreign_credentials]}
        return client

    async def _strip_foreign_credentials(self, request: httpx.Request) -> None:
        if not same_origin(str(request.url), self.base_url()):
            for header in _CREDENTIAL_HEADERS:
                request.headers.pop(header, None)

    def _credentials(self) -> tuple[dict[str, str], list[str]]:
        """The key and the organization / project headers; messages are scrubbed by
        :meth:`_scrub` (which also masks what merely looks like a key)."""
        headers = {"Authorization": f"Bearer {self.require_key()}"}
        for variable, header in (
            ("OPENAI_ORG_ID", "OpenAI-Organization"),
            ("OPENAI_PROJECT_ID", "OpenAI-Project"),
        ):
            if os.environ.get(variable):
                headers[header] = os.environ[variable]
        return headers, []

    def _scrub(self, text: str) -> str:
        """``text`` without the API key or anything that looks like one (OpenAI's 401 shows a
        masked key: ``Incorrect API key provided: sk-abc…wxyz``)."""
        key = self.api_key()
        if key:
            text = text.replace(key, "[redacted]")
        text = re.sub(r"(?i)(api key provided:\s*)\S+", r"\1[redacted]", text)
        text = re.sub(r"\b(?:sk|rk)-[A-Za-z0-9_*.\-]{4,}", "[redacted]", text)
        return text[:_MESSAGE_LIMIT]

    async def _request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One API call; a non-2xx answer raises the classified error."""
        return await self.authorized(method, self.base_url() + path, headers=headers, **kwargs)

    def _answer_error(self, response: httpx.Response) -> ProviderError:
        """Classify an error answer from OpenAI's envelope and its status code."""
        status = response.status_code
        envelope = _envelope(response)
        message = self._scrub(str(envelope.get("message") or response.reason_phrase or ""))
        code = envelope.get("code") or envelope.get("type")
        code = str(code) if code else None
        kinds = {str(envelope.get("code")), str(envelope.get("type"))}
        request_id = request_id_of(response)
        if status == 400 and (kinds & _MODERATION_CODES or "moderation" in message.lower()):
            return ContentRejected(
                f"openai's moderation refused the request: {message}",
                provider=self.name,
                stage="input",
                charged=False,
                status_code=status,
                provider_code=code,
                request_id=request_id,
            )
        if status == 429 and kinds & _QUOTA_CODES:
            return InsufficientCredits(
                f"openai answered 429 (out of quota or credits): {message}",
                provider=self.name,
                status_code=status,
                provider_code=code,
                request_id=request_id,
            )
        return error_for_status(self.name, response, message, provider_code=code)

    # -- submit ----------------------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmitResult:
        """Create the video with one multipart POST (never retried here; see the engine).

        For image-to-video the image (a local file, or an http(s) URL fetched with an SSRF
        guard) becomes the ``input_reference`` part. OpenAI refuses a reference image whose
        size is not exactly the video's ``size``, so it is cropped to the target aspect ratio
        (centred) and resized to exactly that size with Pillow, then sent as PNG."""
        request = submission.request
        model = submission.model
        if request.video or request.last_frame:
            raise UnsupportedRequest(
                f"{model.ref} takes a prompt and at most a first-frame image",
                details={"model": model.ref},
            )
        wire = model.wire
        names: dict[str, str] = wire.get("input", {})
        size = _size_for(model, request.resolution, request.aspect_ratio)
        fields = {
            names.get("model", "model"): model.id,
            names.get("prompt", "prompt"): request.prompt,
            names.get("duration", "seconds"): _format_duration(
                request.duration, wire.get("format", {}).get("duration")
            ),
            names.get("size", "size"): size,
        }
        # Every field as a part without a filename: multipart even when there is no file.
        parts: list[tuple[str, tuple[str | None, str | bytes, str | None]]] = [
            (field, (None, str(value), None)) for field, value in fields.items()
        ]
        if request.image:
            image = await self._reference_image(request.image, size)
            parts.append(
                (
                    names.get("start_image", "input_reference"),
                    ("first-frame.png", image, "image/png"),
                )
            )
        method, _, path = str(wire.get("create", "POST /videos")).partition(" ")
        try:
            response = await self._request(
                method, path, files=parts, headers={REFERENCE_HEADER: submission.reference}
            )
        except ProviderError as exc:
            if exc.status_code not in (404, 410):
                raise
            # The endpoint or the model is gone, which is not the caller's fault: terminal for
            # this provider, so the job may fall back.
            retired = model.lifecycle.retires_on
            note = f"; OpenAI scheduled its shutdown for {retired.isoformat()}" if retired else ""
            raise ProviderError(
                f"openai's Videos API no longer serves {model.id} ({exc.message}){note}",
                provider=self.name,
                status_code=exc.status_code,
                provider_code=exc.provider_code,
                request_id=exc.request_id,
            ) from None
        video = json_object(self.name, response)
        return SubmitResult(
            remote_id=_video_id(self.name, video.get("id")),
            state=_STATES.get(str(video.get("status")), TaskState.QUEUED),
        )

    async def _reference_image(self, ref: str, size: str) -> bytes:
        width, height = (int(side) for side in size.split("x"))
        if "://" in ref:
            data = await self._fetch_image(ref)
        else:
            try:
                data = await asyncio.to_thread(Path(ref).expanduser().read_bytes)
            except OSError as exc:
                raise InvalidRequest(
                    f"cannot read the image {ref}: {exc.strerror or exc}", details={"image": ref}
                ) from None
        return await asyncio.to_thread(_fit_image, data, width, height)

    async def _fetch_image(self, url: str) -> bytes:
        """A user's image, fetched through the SSRF guard without any credential."""
        return await fetch_user_image(
            self._http(),
            url,
            provider=self.name,
            ssrf_allow=self.settings.ssrf_allow,
            max_bytes=_IMAGE_MAX_BYTES,
            max_redirects=_IMAGE_MAX_REDIRECTS,
        )

    # -- poll, cancel, lookup --------------------------------------------------------------

    async def poll(self, remote_id: str) -> TaskStatus:
        video_id = _video_id(self.name, remote_id)
        try:
            response = await self._request("GET", f"/videos/{video_id}")
        except ProviderError as exc:
            raise gone_if_404(
                exc,
                f"openai has no video {video_id} any more (deleted or expired)",
                exc.provider_code,
            ) from None
        return self._status(json_object(self.name, response), response.headers)

    def _status(self, video: Mapping[str, Any], headers: Mapping[str, str]) -> TaskStatus:
        raw = str(video.get("status"))
        state = _STATES.get(raw)
        if state is None:
            raise ProviderError(
                f"openai reported an unknown video status {raw!r}", provider=self.name
            )
        progress = _progress(video.get("progress"))
        poll_after = None
        if "openai-poll-after-ms" in headers:
            try:
                poll_after = max(float(headers["openai-poll-after-ms"]) / 1000, 0.0)
            except ValueError:
                poll_after = None
        if state is TaskState.SUCCEEDED:
            expires = video.get("expires_at")
            video_id = _video_id(self.name, video.get("id"))
            outputs = self._outputs(video_id, float(expires) if expires else None)
            return TaskStatus(state=state, progress=1.0, outputs=outputs, raw_status=raw)
        if state is TaskState.FAILED:
            return TaskStatus(
                state=state, progress=progress, error=self._failure(video), raw_status=raw
            )
        return TaskStatus(state=state, progress=progress, raw_status=raw, poll_after=poll_after)

    def _outputs(self, video_id: str, expires_at: float | None) -> list[OutputRef]:
        content = f"{self.base_url()}/videos/{video_id}/content"
        return [
            OutputRef(
                url=content,
                kind="video",
                remote_id=video_id,
                content_type="video/mp4",
                expires_at=expires_at,
            ),
            OutputRef(
                url=content + "?variant=thumbnail",
                kind="thumbnail",
                remote_id=video_id,
                content_type="image/webp",
                expires_at=expires_at,
            ),
        ]

    def _failure(self, video: Mapping[str, Any]) -> dict[str, Any]:
        found = video.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = str(error["code"]) if error.get("code") else None
        message = self._scrub(str(error.get("message") or "the video failed"))
        if code in _MODERATION_CODES:
            # Reported refunded in that case (third-party), so not charged.
            return ContentRejected(
                f"openai's moderation blocked the video: {message}",
                provider=self.name,
                stage="output",
                charged=False,
                provider_code=code,
            ).to_dict()
        return GenerationFailed(
            f"openai failed the video: {message}", provider=self.name, provider_code=code
        ).to_dict()

    def lists(self, remote_id: str) -> bool:
        return True

    async def poll_many(
        self, remote_ids: Sequence[str], *, also: Collection[str] = ()
    ) -> dict[str, PollResult]:
        """Videos from the project's list (``GET /videos?order=desc&limit=&after=``, whole
        Video objects, paged on ``last_id``) until every one of ``remote_ids`` was seen or
        ``_POLL_PAGES`` were read; the videos the pages did not show one by one."""
        wanted, watched = set(remote_ids), set(remote_ids) | set(also)
        found: dict[str, PollResult] = {}
        params: dict[str, str | int] = {"order": "desc", "limit": _LOOKUP_PAGE_SIZE}
        for _ in range(_POLL_PAGES if wanted else 0):
            page = json_object(self.name, await self._request("GET", "/videos", params=params))
            for video in page.get("data") or []:
                video_id = video.get("id") if isinstance(video, dict) else None
                if video_id in watched and video_id not in found:
                    try:
                        found[str(video_id)] = self._status(video, {})
                    except ProviderError as exc:
                        found[str(video_id)] = exc
            if wanted <= found.keys() or not page.get("has_more") or not page.get("last_id"):
                break
            params["after"] = str(page["last_id"])
        found.update(await self.poll_each([r for r in remote_ids if r not in found]))
        return found

    async def cancel(self, remote_id: str) -> bool:
        """OpenAI has no cancel. ``DELETE /videos/{id}`` deletes the video, and nothing says
        whether deleting a running one stops the generation or its billing; deleting it would
        only lose the result we may be paying for. So nothing is sent, and the answer is
        False: the task was not cancelled."""
        _video_id(self.name, remote_id)
        return False

    async def find_by_reference(
        self, reference: str, submission: Submission, since: float
    ) -> str | None:
        """OpenAI keeps no client reference, so this lists the project's videos (newest first)
        and returns the newest one created at or after ``since`` whose prompt, model, seconds
        and size are the ones this submission sends. Two identical submissions in the same
        window cannot be told apart; taking the newest adopts a task rather than paying twice.
        If the listing is too long to read back to ``since``, the answer is uncertain and
        ``SubmitUncertain`` is raised rather than None."""
        request, model = submission.request, submission.model
        style = model.wire.get("format", {}).get("duration")
        wanted = {
            "prompt": request.prompt,
            "seconds": str(_format_duration(request.duration, style)),
            "size": _size_for(model, request.resolution, request.aspect_ratio),
        }
        models = {model.id, *model.wire.get("snapshots", [])}
        floor = math.floor(since)
        params: dict[str, str | int] = {"order": "desc", "limit": _LOOKUP_PAGE_SIZE}
        for _ in range(_LOOKUP_MAX_PAGES):
            page = json_object(self.name, await self._request("GET", "/videos", params=params))
            for video in page.get("data") or []:
                if int(video.get("created_at") or 0) < floor:
                    return None  # newest first: everything after this is older
                if video.get("model") in models and all(
                    str(video.get(field)) == value for field, value in wanted.items()
                ):
                    return _video_id(self.name, video.get("id"))
            if not page.get("has_more") or not page.get("last_id"):
                return None
            params["after"] = str(page["last_id"])
        raise SubmitUncertain(
            f"openai lists more than {_LOOKUP_PAGE_SIZE * _LOOKUP_MAX_PAGES} videos since the "
            f"create call; cannot tell whether attempt {reference} made one",
            provider=self.name,
        )

    # -- download --------------------------------------------------------------------------

    async def download(self, output: OutputRef, dest: Path) -> None:
        """Stream the content to ``dest``. The content endpoint needs the API key, which is
        sent only when ``output.url`` has the configured base URL's origin (scheme, host and
        port). An output anywhere else, or a redirect to anywhere else, is fetched without it
        (the client's request hook strips it too, as a second line of defence). A 404 or 410
        means the content is gone (past ``expires_at``, or deleted): ``generation_failed``,
        not worth retrying."""
        headers = {"Accept": "application/binary"}
        if same_origin(output.url, self.base_url()):
            headers.update(self._credentials()[0])
        try:
            await download_to(self._http(), self.name, output.url, dest, headers=headers)
        except ProviderError as exc:
            raise self._download_error(exc, output) from None

    def _download_error(self, exc: ProviderError, output: OutputRef) -> ProviderError:
        message = self._scrub(exc.message)
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": exc.status_code,
            "request_id": exc.request_id,
        }
        if exc.status_code in (404, 410):
            return GenerationFailed(
                f"the output of video {output.remote_id or '?'} is no longer available "
                f"(expired or deleted): {message}",
                provider_code="content_gone",
                **common,
            )
        if exc.status_code == 429 and any(code in message for code in _QUOTA_CODES):
            return InsufficientCredits(message, **common)
        standard = {*common, "provider_code", "retry_after"}
        extra = {k: v for k, v in exc.details.items() if k not in standard}
        return type(exc)(
            message,
            provider_code=exc.provider_code,
            retry_after=exc.retry_after,
            details=extra,
            **common,
        )

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, url_token: str | None = None
    ) -> WebhookEvent:
        """Verify a project webhook (Standard Webhooks, the openai SDK's ``unwrap``): the
        ``webhook-signature`` must hold a ``v1,`` HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``
        keyed with ``OPENAI_WEBHOOK_SECRET`` (``whsec_`` + base64), compared in constant time,
        and ``webhook-timestamp`` must be within 300 s of now. Anything else raises
        ``ProviderAuthError``.

        The payload names only the video (``data.id``), so the returned status says only what
        the event type implies: ``video.completed`` → succeeded (with the content endpoint as
        output), ``video.failed`` → failed without a classified error. The engine treats a
        webhook as a wake-up call and polls the video to confirm and classify it."""
        secret = Settings().openai_webhook_secret  # as the environment is now
        if not secret:
            raise ProviderAuthError(
                f"cannot verify an openai webhook: set {WEBHOOK_SECRET_VARIABLE} to the "
                "endpoint's whsec_ signing secret",
                provider=self.name,
            )
        lowered = {k.lower(): v for k, v in headers.items()}
        message_id = lowered.get("webhook-id")
        timestamp = lowered.get("webhook-timestamp")
        signatures = lowered.get("webhook-signature")
        if not (message_id and timestamp and signatures):
            raise ProviderAuthError(
                "an openai webhook arrived without webhook-id, webhook-timestamp and "
                "webhook-signature headers",
                provider=self.name,
            )
        check_webhook_time(self.name, timestamp, "webhook-timestamp")
        expected = _webhook_signature(secret, message_id, timestamp, body)
        if not _any_signature_matches(signatures, expected):
            raise ProviderAuthError(
                "an openai webhook's signature does not match (forged, or signed with another "
                "secret)",
                provider=self.name,
            )
        return self._webhook_event(body)

    def _webhook_event(self, body: bytes) -> WebhookEvent:
        try:
            event = json.loads(body)
            kind, video_id = event["type"], event["data"]["id"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(
                "an openai webhook's body is not an event with data.id", provider=self.name
            ) from None
        video_id = _video_id(self.name, video_id)
        if kind == "video.completed":
            status = TaskStatus(
                state=TaskState.SUCCEEDED,
                progress=1.0,
                outputs=self._outputs(video_id, None),
                raw_status=kind,
            )
        elif kind == "video.failed":
            status = TaskStatus(state=TaskState.FAILED, raw_status=kind)
        else:
            raise ProviderError(
                f"an openai webhook of type {kind!r} is not about a video", provider=self.name
            )
        return WebhookEvent(remote_id=video_id, status=status)


# -- helpers -----------------------------------------------------------------------------------


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _video_id(provider: str, value: object) -> str:
    if not isinstance(value, str) or not _VIDEO_ID.match(value):
        raise ProviderError(f"not an openai video id: {value!r}", provider=provider)
    return value


def _progress(value: object) -> float | None:
    if not isinstance(value, int | float):
        return None
    return min(max(float(value) / 100, 0.0), 1.0)


def _size_for(model: ModelProfile, resolution: str, aspect_ratio: str) -> str:
    """The wire ``size`` (``"1280x720"``) for a resolution and aspect ratio, from the catalogue."""
    size = model.wire.get("size", {}).get(resolution, {}).get(aspect_ratio)
    if not isinstance(size, str):
        raise UnsupportedRequest(
            f"{model.ref} has no size for {resolution} at {aspect_ratio}",
            details={"model": model.ref},
        )
    return size


def _format_duration(seconds: float, style: str | None) -> str | int | float:
    whole = int(seconds) if float(seconds).is_integer() else seconds
    return str(whole) if style == "str" else whole


def _fit_image(data: bytes, width: int, height: int) -> bytes:
    """The image cropped (centred) to ``width:height`` and resized to exactly that, as PNG."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(f"the first-frame image cannot be read: {exc}") from None
    fitted = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, format="PNG")
    return out.getvalue()


def _webhook_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``; a ``whsec_`` secret's key is the
    base64 after the prefix, any other secret's is its UTF-8 bytes (as in the openai SDK)."""
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ProviderAuthError(
                f"{WEBHOOK_SECRET_VARIABLE} is not a valid whsec_ secret", provider="openai"
            ) from None
    else:
        key = secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _any_signature_matches(header: str, expected: str) -> bool:
    """Whether any ``v1,<sig>`` entry of the space-separated header is ``expected``."""
    matched = False
    for entry in header.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected.encode()):
            matched = True
    return matched
