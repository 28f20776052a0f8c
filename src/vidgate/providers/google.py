"""``google``: Google Veo through the Gemini API (``generativelanguage.googleapis.com``), spoken
directly with httpx.

The wire contract is section 3 of the provider research (``replicate-fal-veo.md``; shapes read
from ``google-genai`` 2.34.0); the simulator twin is :mod:`vidgate.simulator.gemini`. The Vertex
AI flavour (:mod:`vidgate.providers.vertex`) shares everything here but auth, URLs, the poll call
and where the videos are in the answer: it subclasses :class:`VeoProvider`.

- **Requests.** ``POST /v1beta/models/{model}:predictLongRunning`` with
  ``x-goog-api-key: $GEMINI_API_KEY`` (or ``$GOOGLE_API_KEY``) and a body ``{instances: [{…}],
  parameters: {…}}``. Every field's place in that body (``instances[0].prompt``,
  ``parameters.durationSeconds``…), value spellings (``2160p`` is ``"4k"``), fixed values
  (``sampleCount: 1``) and image object shape come from the model's ``wire`` table in
  ``catalog/data/google.toml``; nothing here branches on a model id. A create also carries
  ``X-Vidgate-Reference`` (Google ignores it; the simulator counts creates by it).
- **Images** go inline, ``{bytesBase64Encoded, mimeType}`` (the Gemini API takes no image URL).
  A local file is read; an ``http(s)`` URL is fetched by vidgate through its SSRF guard
  (``vidgate.ssrf``, allow-list ``VIDGATE_SSRF_ALLOW``; every redirect hop checked again; at most
  20 MB; never with the API key) and sent inline; a ``data:`` URI is decoded. PNG, JPEG and WebP
  only. ``gs://`` images are Vertex-only.
- **Extension** takes only a video Veo generated on this API: ``request.video`` must be the
  ``uri`` of an earlier output (on the API's origin, ``…/files/…``), sent as
  ``instances[0].video = {uri}``.
- **Answers.** The create returns an operation ``{name: "models/{m}/operations/{id}"}``, the
  remote id. ``GET /v1beta/{name}`` reports it: not ``done`` → running (Veo reports no progress,
  so progress stays None); ``done`` with ``response.generateVideoResponse.generatedSamples[]`` →
  succeeded, each ``video.uri`` an :class:`OutputRef`; ``done`` with no samples and
  ``raiMediaFilteredCount``/``raiMediaFilteredReasons`` (under ``generateVideoResponse`` or
  directly under ``response``: both are read) → :class:`ContentRejected`, not charged (only
  successful videos are billed, *unconfirmed*), stage ``input`` when the reason names the
  prompt or an input image, else ``output``; ``done`` with ``error`` (a ``google.rpc.Status``)
  → classified by its gRPC code and message; ``done`` with nothing → ``generation_failed``.
- **Errors** are Google's envelope ``{error: {code, message, status, details}}``:
  ``RESOURCE_EXHAUSTED`` is :class:`RateLimited` (``RetryInfo.retryDelay`` honoured) unless it
  speaks of credits/prepayment/billing, then :class:`InsufficientCredits`; an invalid key
  (``API_KEY_INVALID``, a 400), ``UNAUTHENTICATED`` and ``PERMISSION_DENIED`` are
  :class:`ProviderAuthError`; ``INVALID_ARGUMENT`` is :class:`ProviderRejectedRequest`, or
  :class:`ContentRejected` (input) when it is the documented safety wording ("couldn't be
  submitted", "violates … usage guidelines"); 5xx are :class:`ProviderUnavailable`.
- **Downloads** are fetched at once (Google keeps them about 2 days). The sample URI needs the
  API key, which is attached only when the URI has the configured base URL's origin (scheme,
  host, port); a request hook also strips it from any request to another origin, redirects
  included (Google's download is followed to storage). A link refused by storage is retryable
  (each new download is signed afresh); a file that is gone is ``generation_failed``.
- **What Veo lacks.** No cancel (``cancel`` returns False; abandoned operations run to the end),
  no lookup by our reference (``supports_lookup`` is False: an ambiguous create stops the job
  with ``submit_uncertain`` rather than pay twice), and no webhooks here: Gemini's new beta
  webhooks (``video.generated``) are left out; polling is the contract. Against Google itself
  the engine is asked to poll every 10 s, the docs' own loop.

Keys and tokens never appear in an error message or the request log.

This module holds the shared :class:`VeoProvider` (its HTTP calls, inputs and downloads) and the
Gemini API flavour; building the create request from the catalogue is in
:mod:`vidgate.providers._veo_request`, and reading Google's errors, failed operations and
Responsible-AI filtering in :mod:`vidgate.providers._veo_errors`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from ..exceptions import (
    ConfigurationError,
    GenerationFailed,
    InvalidRequest,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    SubmitUncertain,
    UnsupportedRequest,
)
from ..settings import Settings
from ._errors import error_for_status, request_id_of
from ._http import (
    HttpProvider,
    atomic_file,
    download_to,
    fetch_user_image,
    gone_if_404,
    json_object,
    make_client,
    origin_of,
)
from ._veo_errors import GRPC_CODES as GRPC_CODES
from ._veo_errors import _envelope, _rai_fields
from ._veo_errors import google_error as google_error
from ._veo_errors import operation_error as operation_error
from ._veo_errors import rai_rejection as rai_rejection
from ._veo_request import _sniff_image
from ._veo_request import build_predict as build_predict
from ._veo_request import fill_template as fill_template
from .base import OutputRef, Submission, SubmitResult, TaskState, TaskStatus

__all__ = [
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "GoogleProvider",
    "INLINE_SCHEME",
    "VeoProvider",
    "build_predict",
    "fill_template",
    "google_error",
    "operation_error",
    "rai_rejection",
]

BASE_URL_VARIABLE = "VIDGATE_GEMINI_BASE_URL"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_HEADER = "x-goog-api-key"
REFERENCE_HEADER = "X-Vidgate-Reference"
#: The docs' own polling loop sleeps 10 s between operation reads.
POLL_INTERVAL = 10.0
#: An output that came back inline (base64 in the operation): ``veo-inline:<index>``, fetched
#: again from the operation at download time (``OutputRef.remote_id``) so it is never
#: checkpointed.
INLINE_SCHEME = "veo-inline:"
#: Images fetched from a URL to send inline: at most this many bytes and redirects (our limits;
#: Google's request-size limit for Veo is not documented).
IMAGE_MAX_BYTES = 20 * 1024 * 1024
IMAGE_MAX_REDIRECTS = 3

_IMAGE_SUFFIXES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


# -- URLs --------------------------------------------------------------------------------------


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# -- the shared provider -----------------------------------------------------------------------


class VeoProvider(HttpProvider):
    """Veo over httpx, either flavour. Subclasses say how to authenticate, where the API is,
    how to read an operation and where its videos are."""

    #: Request headers that carry a credential; sent to the API's own origin only.
    credential_headers: ClassVar[tuple[str, ...]] = ()
    supports_lookup: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        #: Origins of every API base URL this provider has called: the only ones trusted with
        #: a credential.
        self._trusted: set[tuple[str, str, int | None]] = set()
        #: Seconds between polls to ask the engine for (set with the base URL).
        self._poll_after: float | None = None

    # -- what a flavour says ---------------------------------------------------------------

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The credential headers (raises if the credential is not configured)."""

    @abstractmethod
    def credential_hint(self) -> str:
        """What to check when the API refuses our credential."""

    @abstractmethod
    def create_target(self, submission: Submission) -> tuple[str, dict[str, str]]:
        """The base URL for a create, and the values its path template needs."""

    @abstractmethod
    async def read_operation(self, remote_id: str) -> dict[str, Any]:
        """The operation ``remote_id`` as the API reports it now."""

    @abstractmethod
    def api_base(self, remote_id: str | None = None) -> str:
        """The API base URL (for ``remote_id``'s operation, where that matters), registered
        with :meth:`trust` as an origin our credential may go to."""

    @abstractmethod
    def samples(self, operation: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A done operation's videos, each ``{"uri": …}`` or ``{"base64": …, "mime": …}``."""

    def trust(self, base: str) -> str:
        """Remember ``base``'s origin as one that may see our credential; returns ``base``."""
        self._trusted.add(origin_of(base))
        return base

    def trusted(self, url: str) -> bool:
        try:
            return origin_of(url) in self._trusted
        except httpx.InvalidURL:
            return False

    def poll_hint(self, base: str, official: str) -> float | None:
        """Against Google itself, the docs' 10 s; the engine's own interval elsewhere."""
        return POLL_INTERVAL if base.rstrip("/") == official.rstrip("/") else None

    # -- plumbing --------------------------------------------------------------------------

    def _new_client(self) -> httpx.AsyncClient:
        """No default headers: credentials are added per request for the API's origin, and the
        hook strips them from any request (a redirect included) to any other origin."""
        client = make_client(self.name, timeout=60.0)
        client.event_hooks = {"request": [self._strip_foreign_credentials]}
        return client

    async def _strip_foreign_credentials(self, request: httpx.Request) -> None:
        if not self.trusted(str(request.url)):
            for header in self.credential_headers:
                request.headers.pop(header, None)

    def _secrets(self) -> list[str]:
        found = []
        for var in self.env_keys():
            value = os.environ.get(var)
            if value and len(value) >= 6:
                found.append(value)
        return found

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One API call with our credential; non-2xx answers raise, classified."""
        return await self.authorized(method, url, json=body, headers=headers)

    def _credentials(self) -> tuple[dict[str, str], list[str]]:
        return self.auth_headers(), self._secrets()

    def _answer_error(self, response: httpx.Response) -> ProviderError:
        return google_error(self.name, response, credentials=self.credential_hint())

    # -- inputs ----------------------------------------------------------------------------

    async def media(self, submission: Submission) -> dict[str, Any]:
        """The wire objects for the request's images and video, per the ``wire`` table."""
        request, wire = submission.request, submission.model.wire
        found: dict[str, Any] = {}
        for field, ref in (("start_image", request.image), ("end_image", request.last_frame)):
            if ref:
                found[field] = await self._image(ref, wire)
        if request.video:
            found["video"] = self._video(request.video, submission)
        return found

    async def _image(self, ref: str, wire: Mapping[str, Any]) -> dict[str, Any]:
        if ref.startswith("gs://"):
            template = wire.get("image_ref_gcs")
            if template is None:
                raise InvalidRequest(
                    f"{self.name} takes images inline, not from Cloud Storage ({ref[:120]}): "
                    "pass a local file or an https URL",
                    details={"provider": self.name},
                )
            suffix = Path(urlsplit(ref).path).suffix.lower()
            if suffix not in _IMAGE_SUFFIXES:
                raise InvalidRequest(f"cannot tell the image type of {ref[:120]} (.png/.jpg/.webp)")
            filled: dict[str, Any] = fill_template(
                template, {"gcs_uri": ref, "mime_type": _IMAGE_SUFFIXES[suffix]}
            )
            return filled
        if ref.startswith("data:"):
            head, _, payload = ref.partition(",")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequest("the image data URI is not valid base64") from None
            label = head[:40]
        elif ref.startswith(("https://", "http://")):
            data, label = await self._fetch_image(ref), _redact(ref)
        elif "://" in ref:
            raise InvalidRequest(
                f"{self.name} takes images as local files or http(s) URLs, not "
                f"{ref.split('://', 1)[0]}://"
            )
        else:
            path = Path(ref).expanduser()
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise InvalidRequest(f"image file not readable: {path} ({exc.strerror})") from None
            label = str(path)
        if len(data) > IMAGE_MAX_BYTES:
            raise InvalidRequest(f"{label} is larger than {IMAGE_MAX_BYTES // 2**20} MB")
        mime = _sniff_image(data, label)
        encoded = await asyncio.to_thread(lambda: base64.b64encode(data).decode("ascii"))
        image: dict[str, Any] = fill_template(
            wire["image_ref"], {"base64": encoded, "mime_type": mime}
        )
        return image

    async def _fetch_image(self, url: str) -> bytes:
        """A user's image, fetched through the SSRF guard without any credential."""
        return await fetch_user_image(
            self._http(),
            url,
            provider=self.name,
            ssrf_allow=self.settings.ssrf_allow,
            max_bytes=IMAGE_MAX_BYTES,
            max_redirects=IMAGE_MAX_REDIRECTS,
        )

    def _video(self, ref: str, submission: Submission) -> dict[str, Any]:
        wire = submission.model.wire
        template = wire.get("video_ref")
        if template is None:
            raise UnsupportedRequest(
                f"{submission.model.ref} does not extend videos on this API",
                details={"provider": self.name, "model": submission.model.id},
            )
        if wire.get("extension_input") == "own_generation" and not (
            self.trusted(ref) and "/files/" in urlsplit(ref).path
        ):
            raise UnsupportedRequest(
                f"{submission.model.ref} extends only videos Veo generated on this API: pass "
                "the uri of an earlier output (…/files/…:download), not a file or another URL",
                details={"provider": self.name, "model": submission.model.id},
            )
        video: dict[str, Any] = fill_template(template, {"veo_output_uri": ref})
        return video

    # -- the job lifecycle -----------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmitResult:
        self.auth_headers()  # a missing credential is reported before anything else
        base, where = self.create_target(submission)
        media = await self.media(submission)
        method, path, body = build_predict(submission, media, **where)
        response = await self.call(
            method, base + path, body=body, headers={REFERENCE_HEADER: submission.reference}
        )
        try:
            name = response.json()["name"]
            if not isinstance(name, str) or not name:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise SubmitUncertain(
                f"{self.name} accepted the create (HTTP {response.status_code}) but its answer "
                f"has no operation name; not submitting again (reference "
                f"{submission.reference})",
                provider=self.name,
                status_code=response.status_code,
                request_id=request_id_of(response),
            ) from None
        return SubmitResult(remote_id=name, state=TaskState.QUEUED)

    async def poll(self, remote_id: str) -> TaskStatus:
        operation = await self.read_operation(remote_id)
        return self.status_of(remote_id, operation)

    def status_of(self, remote_id: str, operation: Mapping[str, Any]) -> TaskStatus:
        """An operation as a :class:`TaskStatus`."""
        hint = self._poll_after
        if not operation.get("done"):
            return TaskStatus(state=TaskState.RUNNING, raw_status="running", poll_after=hint)
        error = operation.get("error")
        if isinstance(error, dict) and error:
            failed = operation_error(self.name, remote_id, error)
            return TaskStatus(state=TaskState.FAILED, raw_status="done", error=failed.to_dict())
        outputs = []
        for index, sample in enumerate(self.samples(operation)):
            url = str(sample["uri"]) if "uri" in sample else f"{INLINE_SCHEME}{index}"
            outputs.append(OutputRef(url=url, remote_id=remote_id, content_type=sample.get("mime")))
        if outputs:
            return TaskStatus(
                state=TaskState.SUCCEEDED, raw_status="done", progress=1.0, outputs=outputs
            )
        response = operation.get("response")
        count, reasons = _rai_fields(response if isinstance(response, dict) else {})
        if count or reasons:
            rejected = rai_rejection(self.name, remote_id, count, reasons)
            return TaskStatus(state=TaskState.FAILED, raw_status="done", error=rejected.to_dict())
        empty = GenerationFailed(
            f"{self.name} operation {remote_id} finished with no video and nothing filtered",
            provider=self.name,
            provider_code="missing_output",
            details={"remote_id": remote_id, "charged": False},
        )
        return TaskStatus(state=TaskState.FAILED, raw_status="done", error=empty.to_dict())

    async def cancel(self, remote_id: str) -> bool:
        """Veo has no cancel (none is documented; the generic ``:cancel`` of long-running
        operations is not known to work): the operation runs to its end."""
        return False

    async def download(self, output: OutputRef, dest: Path) -> None:
        """Fetch the video at once: from its URI (with our credential only on the API's own
        origin), or, for a video that came back inline, from the operation again."""
        self.api_base(output.remote_id)  # the origin our credential may go to
        if output.url.startswith(INLINE_SCHEME):
            await self._download_inline(output, dest)
        elif output.url.startswith("gs://"):
            raise ConfigurationError(
                f"{self.name} wrote the video to Cloud Storage ({output.url}); vidgate does not "
                "read gs:// (it never asks for storageUri): fetch it with gsutil or gcloud",
                details={"provider": self.name, "uri": output.url},
            )
        else:
            await self._download_url(output.url, dest)

    async def _download_url(self, url: str, dest: Path) -> None:
        headers = self.auth_headers() if self.trusted(url) else {}
        await download_to(
            self._http(),
            self.name,
            url,
            dest,
            headers=headers,
            error=lambda response: self._download_error(response, bool(headers)),
            secrets=self._secrets(),
        )

    def _download_error(self, response: httpx.Response, with_key: bool) -> ProviderError:
        """A refused download. Google's own answer (its JSON envelope) is classified as any
        API error, except that a missing file is gone for good; anything else came from the
        storage the download redirects to, where a refused link is retried (each download is
        signed afresh) and a missing object is gone."""
        status = response.status_code
        shown = _redact(str(response.url))
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "request_id": request_id_of(response),
        }
        if status in (404, 410):
            return GenerationFailed(
                f"{self.name}'s output {shown} is gone ({status}); Veo keeps outputs for about "
                "2 days",
                provider_code="output_gone",
                **common,
            )
        if _envelope(response) is not None:
            error = google_error(self.name, response, credentials=self.credential_hint())
            if not with_key and isinstance(error, ProviderAuthError):
                error.message += f" (the output is not on the API's origin: {shown}; no key sent)"
                error.args = (error.message,)
            return error
        if status in (401, 403):
            return ProviderUnavailable(
                f"{self.name}'s output link was refused ({status}) at {shown}; a new download "
                "is signed afresh",
                **common,
            )
        return error_for_status(self.name, response, response.text[:300] or shown)

    async def _download_inline(self, output: OutputRef, dest: Path) -> None:
        index = int(output.url.removeprefix(INLINE_SCHEME) or 0)
        if not output.remote_id:
            raise GenerationFailed(
                f"{self.name}: an inline output without its operation", provider=self.name
            )
        operation = await self.read_operation(output.remote_id)
        samples = self.samples(operation) if operation.get("done") else []
        if index >= len(samples) or "base64" not in samples[index]:
            raise GenerationFailed(
                f"{self.name} operation {output.remote_id} no longer holds video {index}",
                provider=self.name,
                provider_code="output_gone",
            )
        encoded = str(samples[index]["base64"])

        def write() -> None:
            data = base64.b64decode(encoded)
            with atomic_file(dest) as out:
                out.write(data)

        try:
            await asyncio.to_thread(write)
        except (binascii.Error, ValueError):
            raise GenerationFailed(
                f"{self.name} operation {output.remote_id}: video {index} is not valid base64",
                provider=self.name,
                provider_code="bad_output",
            ) from None

    def json_of(self, response: httpx.Response, remote_id: str) -> dict[str, Any]:
        return json_object(self.name, response, f"a read of operation {remote_id}")

    def gone(self, exc: ProviderError, remote_id: str) -> ProviderError:
        """A 404 on an operation read: it no longer exists (or never did)."""
        return gone_if_404(
            exc,
            f"{self.name} has no operation {remote_id} (expired, or never existed)",
            "operation_not_found",
        )


# -- the Gemini API ----------------------------------------------------------------------------

_OPERATION = re.compile(r"models/[A-Za-z0-9._-]+/operations/[A-Za-z0-9._-]+")


class GoogleProvider(VeoProvider):
    """Veo on the Gemini API: API key, ``GET`` operation reads, sample URIs that need the key."""

    name: ClassVar[str] = "google"
    credential_headers: ClassVar[tuple[str, ...]] = (KEY_HEADER,)

    def api_base(self, remote_id: str | None = None) -> str:
        """The API origin (``VIDGATE_GEMINI_BASE_URL``, or the simulator's ``/gemini``)."""
        base = self.setting_url(BASE_URL_VARIABLE, DEFAULT_BASE_URL, simulator_path="/gemini")
        self._poll_after = self.poll_hint(base, DEFAULT_BASE_URL)
        return self.trust(base)

    def auth_headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.require_key()}

    def credential_hint(self) -> str:
        return " or ".join(self.env_keys())

    def create_target(self, submission: Submission) -> tuple[str, dict[str, str]]:
        return self.api_base(), {}

    async def read_operation(self, remote_id: str) -> dict[str, Any]:
        if not _OPERATION.fullmatch(remote_id):
            raise ProviderError(
                f"not a Gemini API operation name: {remote_id[:120]!r}", provider=self.name
            )
        wire = self._wire_for(remote_id)
        method, _, template = str(wire["poll"]).partition(" ")
        url = self.api_base() + template.format(operation=remote_id)
        try:
            response = await self.call(method, url)
        except ProviderError as exc:
            raise self.gone(exc, remote_id) from None
        return self.json_of(response, remote_id)

    def _wire_for(self, remote_id: str) -> dict[str, Any]:
        """The ``wire`` table of the operation's model (any of ours, if it left the catalogue:
        the poll call is the same for all)."""
        model_id = remote_id.split("/", 2)[1]
        models = self.profile().models
        chosen = next((m for m in models if m.id == model_id), models[0])
        return chosen.wire

    def samples(self, operation: Mapping[str, Any]) -> list[dict[str, Any]]:
        response = operation.get("response")
        if not isinstance(response, dict):
            return []
        inner = response.get("generateVideoResponse")
        listed = inner.get("generatedSamples") if isinstance(inner, dict) else None
        found = []
        for sample in listed if isinstance(listed, list) else []:
            video = sample.get("video") if isinstance(sample, dict) else None
            if not isinstance(video, dict):
                continue
            if isinstance(video.get("uri"), str) and video["uri"]:
                found.append({"uri": video["uri"], "mime": "video/mp4"})
            elif isinstance(video.get("encodedVideo"), str):
                found.append(
                    {"base64": video["encodedVideo"], "mime": video.get("encoding") or "video/mp4"}
                )
        return found
