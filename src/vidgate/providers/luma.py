"""``luma``: Luma AI's two video APIs behind one provider, chosen per model by ``wire.api``.

- **Dream Machine** (``wire.api = "dream-machine"``: ray-2, ray-flash-2), base URL
  ``VIDGATE_LUMA_BASE_URL`` (default ``https://api.lumalabs.ai/dream-machine/v1``):
  ``POST /generations/video`` → 201 Generation; ``GET /generations/{id}`` (``queued → dreaming
  → completed | failed``, the video at ``assets.video``, failures as ``failure_reason`` text
  only); ``GET /generations`` lists; ``DELETE /generations/{id}`` deletes. Per-request, unsigned
  ``callback_url``.
- **Agents** (``wire.api = "agents"``: ray-3.2), base URL ``VIDGATE_LUMA_AGENTS_BASE_URL``
  (default ``https://agents.lumalabs.ai/v1``): ``POST /generations`` with ``type`` and a nested
  ``video{}``; ``GET /generations/{id}`` (``queued → processing → completed | failed``,
  ``failure_code`` enum, ``output[].url`` presigned for 1 h). No list, no cancel, no callback.

The request body is built from the model's catalogue ``wire`` facts (``input`` paths,
``format``, ``values``, ``fixed``, ``image_ref``/``video_ref`` shapes), not from model names.

**Keys.** Dream Machine reads ``LUMAAI_API_KEY`` or ``LUMA_API_KEY``. Agents first reads the
variables its models list in ``wire.env_keys`` (``LUMA_AGENTS_API_KEY``, the official SDK's),
then those two: whether one Luma key works on both APIs is unconfirmed.

**Remote ids** say which API a task lives on: ``dm:<uuid>`` or ``agents:<uuid>``.

**Inputs.** Luma fetches images itself, so Dream Machine needs public ``https`` URLs: a local
file is refused (``ProviderRejectedRequest``). Agents also takes inline base64 images (the
model's ``wire.image_data_ref``), so local files are sent inline there, up to 50 MB.
Extension continues only a Luma generation: ``request.video`` must be its generation id
(``dm:<uuid>``, ``agents:<uuid>`` or a bare UUID), never an uploaded video.

**Failures.** Luma refunds failed generations, so nothing is charged. Dream Machine's
``failure_reason`` is free text: moderation is recognised by its words ("moderation",
"blacklisted"…) → ``ContentRejected`` (stage ``output`` when the text says the output/generated
video was flagged, else ``input``); "Failed to read user input frames" →
``ProviderRejectedRequest``; anything else → ``GenerationFailed``. Agents' ``failure_code`` is
mapped one by one (``content_moderated`` → ``ContentRejected``, ``budget_exhausted`` →
``InsufficientCredits``, input codes → ``ProviderRejectedRequest``…). HTTP errors: 402, or a
400/403/422 whose ``detail`` talks about credits or balance → ``InsufficientCredits``; 429 →
``RateLimited`` with ``Retry-After``; the rest by status (``error_for_status``).

**Callbacks** (Dream Machine only; Luma does not sign them). When ``submission.callback_url`` is
set, Luma is given ``<callback_url>/<token>``, where the token is self-verifying:
``<reference>.<hex HMAC-SHA256(secret, "vidgate-luma-callback:" + reference)>`` (the reference
percent-encoded). ``parse_webhook`` recomputes the HMAC from the reference inside the token, so
it needs no lookup table; a missing, forged or tampered token raises ``ProviderAuthError``. The
secret is ``Settings.webhook_key()``: ``VIDGATE_WEBHOOK_SECRET``, else a random key made once
and stored in the database, so a callback for a task any process submitted verifies in every
process sharing that database (a gateway receives what a worker asked for). The token
proves a delivery came from someone who was given the URL (Luma); the body's state is still
only a hint, and the engine re-reads the generation with ``poll``.

**Ambiguous creates.** Dream Machine has no client reference, so ``find_by_reference`` lists
recent generations (newest first) and matches the request we sent (prompt, model, sizes,
keyframes, and the callback URL, whose token names our reference; its MAC is not compared, so a
task is still recognised after the secret was rotated) created at or after
``since``. One match is ours; none, after reading past ``since``, proves absence (None); more
than one that nothing tells apart, or a listing too long to read, raises ``SubmitUncertain``.
The Agents API has no listing and no client reference, so a task there cannot be looked up:
``find_by_reference`` raises ``SubmitUncertain`` rather than claim an absence it cannot prove,
and the job stops instead of paying twice. (``supports_lookup`` is a class-wide flag; it is
True for the Dream Machine half.)

**Cancel.** Dream Machine's ``DELETE`` deletes the generation (and its output): the engine
calls ``cancel`` only to abandon a task. Agents has no cancel: ``cancel`` returns False.

**Downloads** use a separate client without the API key (output URLs are pre-signed, on
another host). A 401/403/404/410 from an output URL means it expired: the task is polled again
for a fresh URL and the download retried once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import mimetypes
import os
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import httpx

from ..exceptions import (
    ConfigurationError,
    ContentRejected,
    GenerationFailed,
    InsufficientCredits,
    MissingCredentials,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
)
from ..requestlog import redact_url
from ..settings import Settings
from ._errors import error_for_status, request_id_of
from ._http import HttpProvider, download_to, gone_if_404, json_object, make_client, send
from .base import (
    Balance,
    OutputRef,
    PollResult,
    Submission,
    SubmitResult,
    TaskState,
    TaskStatus,
    WebhookEvent,
)

__all__ = ["LumaProvider", "callback_token", "verify_callback_token"]

#: Sent on every create, so a simulator (or a log) can tie the task to our attempt.
REFERENCE_HEADER = "X-Vidgate-Reference"
_TOKEN_CONTEXT = b"vidgate-luma-callback:"

#: Agents presigns output URLs for one hour.
_AGENTS_URL_TTL = 3600.0
#: Inline (base64) images on the Agents API are limited to 50 MB.
_INLINE_LIMIT = 50 * 1024 * 1024
#: Lookup reads at most this many pages of this many generations.
_LOOKUP_PAGE, _LOOKUP_PAGES = 100, 20
#: List pages one ``poll_many`` reads (of ``_LOOKUP_PAGE``, newest first) before it polls the
#: rest one by one.
_POLL_PAGES = 10

_CREDITS_WORDS = re.compile(r"credit|balance|insufficient funds|payment", re.IGNORECASE)
_MODERATION_WORDS = re.compile(
    r"moderat|blacklist|content (?:policy|guideline)|nsfw|unsafe|safety|flagged|inappropriate",
    re.IGNORECASE,
)
_OUTPUT_WORDS = re.compile(r"\b(?:output|generated|result)\b", re.IGNORECASE)
_INPUT_UNREADABLE = re.compile(r"failed to read user input", re.IGNORECASE)
_GENERATION_ID = re.compile(
    r"(?:(dm|agents|luma):)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
    re.IGNORECASE,
)

#: Agents ``failure_code`` → the error it means (``content_moderated`` is handled apart).
_FAILURE_CODES: dict[str, type[ProviderError]] = {
    "generation_failed": GenerationFailed,
    "output_not_found": GenerationFailed,
    "budget_exhausted": InsufficientCredits,
    "image_too_large": ProviderRejectedRequest,
    "unsupported_format": ProviderRejectedRequest,
    "corrupt_input": ProviderRejectedRequest,
    "invalid_request": ProviderRejectedRequest,
    "rate_limited": RateLimited,
}


@dataclass(frozen=True)
class _Api:
    """What differs between Luma's two APIs, beyond the per-model ``wire`` facts."""

    name: str
    prefix: str  # of our remote ids
    url_variable: str
    default_url: str
    simulator_path: str  # under VIDGATE_SIMULATOR_URL
    create_path: str
    states: dict[str, TaskState]
    callbacks: bool
    listing: bool
    cancel: bool


DREAM_MACHINE = _Api(
    name="dream-machine",
    prefix="dm",
    url_variable="VIDGATE_LUMA_BASE_URL",
    default_url="https://api.lumalabs.ai/dream-machine/v1",
    simulator_path="/luma/dream-machine/v1",
    create_path="/generations/video",
    states={
        "queued": TaskState.QUEUED,
        "dreaming": TaskState.RUNNING,
        "completed": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
    },
    callbacks=True,
    listing=True,
    cancel=True,
)
AGENTS = _Api(
    name="agents",
    prefix="agents",
    url_variable="VIDGATE_LUMA_AGENTS_BASE_URL",
    default_url="https://agents.lumalabs.ai/v1",
    simulator_path="/luma-agents/v1",
    create_path="/generations",
    states={
        "queued": TaskState.QUEUED,
        "processing": TaskState.RUNNING,
        "completed": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
    },
    callbacks=False,
    listing=False,
    cancel=False,
)
_APIS = {api.name: api for api in (DREAM_MACHINE, AGENTS)}
_BY_PREFIX = {api.prefix: api for api in (DREAM_MACHINE, AGENTS)}


# -- callback tokens ---------------------------------------------------------------------------


def _mac(reference: str, key: bytes | None) -> str:
    key = Settings().webhook_key() if key is None else key
    return hmac.new(key, _TOKEN_CONTEXT + reference.encode(), hashlib.sha256).hexdigest()


def callback_token(reference: str, key: bytes | None = None) -> str:
    """The unguessable, self-verifying last path segment of an attempt's callback URL, keyed
    with ``key`` (default: the deployment's, ``Settings().webhook_key()``)."""
    return f"{quote(reference, safe='')}.{_mac(reference, key)}"


def verify_callback_token(token: str | None, key: bytes | None = None) -> str:
    """The reference a callback token was made for; ``ProviderAuthError`` if it is missing,
    malformed or not signed with ``key`` (default: the deployment's)."""
    if not token:
        raise ProviderAuthError(
            "a Luma callback arrived without its URL token; refusing it", provider="luma"
        )
    quoted, dot, mac = token.rpartition(".")
    reference = unquote(quoted)
    if not dot or not reference or not hmac.compare_digest(_mac(reference, key), mac):
        raise ProviderAuthError(
            "a Luma callback arrived with a token that does not verify; refusing it",
            provider="luma",
        )
    return reference


# -- helpers -----------------------------------------------------------------------------------


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` (``"video.duration"``) in ``body``."""
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _fill(template: Any, values: dict[str, str]) -> Any:
    """A ``wire`` reference shape with its ``{placeholders}`` filled in."""
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    return template


def _format(value: Any, how: str | None) -> Any:
    if how == "str_s":
        return f"{float(value):g}s"
    if how == "str":
        return f"{value:g}" if isinstance(value, float) else str(value)
    if how == "int":
        return int(value)
    if how == "bool":
        return bool(value)
    return value


def _detail(response: httpx.Response) -> str:
    """The message in a Luma error body (``{"detail": …}``), short and without URLs' queries."""
    try:
        data = response.json()
    except ValueError:
        data = None
    found: Any = data.get("detail", data) if isinstance(data, dict) else data
    if isinstance(found, list):  # a validation error list
        found = "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in found
        )
    text = str(found) if found not in (None, "") else response.text or response.reason_phrase
    return text[:300]


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _failure(api: _Api, reason: str | None, code: str | None) -> ProviderError:
    """A failed generation's error, classified from Luma's ``failure_code``/``failure_reason``."""
    text = (reason or "").strip() or "no reason given"
    where = "Luma" if api is DREAM_MACHINE else "Luma Agents"
    if code == "content_moderated" or (code is None and _MODERATION_WORDS.search(text)):
        stage = "output" if _OUTPUT_WORDS.search(text) else "input"
        what = "generated video" if stage == "output" else "request"
        return ContentRejected(
            f"{where} moderation rejected the {what}: {text}",
            provider="luma",
            stage=stage,
            charged=False,  # Luma refunds failed generations
            provider_code=code or "moderation",
        )
    if code is None and _INPUT_UNREADABLE.search(text):
        return ProviderRejectedRequest(
            f"{where} could not read the input images (they must be public URLs): {text}",
            provider="luma",
            provider_code="input_unreadable",
        )
    cls = _FAILURE_CODES.get(code or "", GenerationFailed)
    return cls(
        f"{where} failed the generation: {text}",
        provider="luma",
        provider_code=code or "failed",
    )


class LumaProvider(HttpProvider):
    """Luma AI: Dream Machine (ray-2, ray-flash-2) and Agents (ray-3.2)."""

    name: ClassVar[str] = "luma"
    supports_lookup: ClassVar[bool] = True

    # -- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _api_of_model(wire: dict[str, Any], model_id: str) -> _Api:
        api = _APIS.get(str(wire.get("api", "")))
        if api is None:
            raise ConfigurationError(
                f"luma model {model_id!r} has no known wire.api in the catalogue "
                f"(expected one of {', '.join(sorted(_APIS))})"
            )
        return api

    @staticmethod
    def _split(remote_id: str) -> tuple[_Api, str]:
        prefix, _, gen_id = remote_id.partition(":")
        api = _BY_PREFIX.get(prefix)
        if api is None or not gen_id:
            raise ProviderError(
                f"not a Luma remote id: {remote_id!r} (expected dm:<id> or agents:<id>)",
                provider="luma",
            )
        return api, gen_id

    def _keys(self, api: _Api) -> tuple[list[str], list[str]]:
        """The variables ``api``'s key may be in, in order, and the keys set in them."""
        variables: list[str] = []
        if api is AGENTS:
            for model in self.profile().models:
                if model.wire.get("api") == AGENTS.name:
                    variables += [v for v in model.wire.get("env_keys", []) if v not in variables]
        variables += [v for v in self.env_keys() if v not in variables]
        return variables, [value for v in variables if (value := os.environ.get(v))]

    def _key(self, api: _Api) -> str:
        variables, keys = self._keys(api)
        if not keys:
            raise MissingCredentials(self.name, variables)
        return keys[0]

    def _client(self, api: _Api) -> httpx.AsyncClient:
        """This loop's client for ``api`` ("dream-machine", "agents"), with its key."""

        def make() -> httpx.AsyncClient:
            base_url = self.setting_url(
                api.url_variable, api.default_url, simulator_path=api.simulator_path
            )
            key = self._key(api)
            return make_client(
                self.name,
                base_url=base_url,
                headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
                timeout=60.0,
            )

        return self.clients.get(make, api.name)

    def _download_client(self) -> httpx.AsyncClient:
        """This loop's client without a key: output URLs are pre-signed."""
        return self.clients.get(lambda: make_client(self.name, timeout=120.0), "download")

    async def _call(
        self,
        api: _Api,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await send(
            self._client(api),
            self.name,
            method,
            path,
            json=body,
            params=params,
            headers=headers,
            secrets=self._keys(api)[1],
            error=self._error,
        )

    def _error(self, response: httpx.Response) -> ProviderError:
        message = _detail(response)
        if response.status_code in (400, 403, 422) and _CREDITS_WORDS.search(message):
            return InsufficientCredits(
                f"luma answered {response.status_code}: {message}",
                provider=self.name,
                status_code=response.status_code,
                request_id=request_id_of(response),
            )
        return error_for_status(self.name, response, message)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        return json_object("luma", response)

    # -- building the request ----------------------------------------------------------------

    def _image_ref(self, wire: dict[str, Any], ref: str, label: str, api: _Api) -> Any:
        if ref.startswith("https://"):
            return _fill(wire["image_ref"], {"url": ref})
        if "://" in ref or ref.startswith("data:"):
            shown = redact_url(ref) if "://" in ref else "a data URI"
            raise ProviderRejectedRequest(
                f"Luma fetches input images itself and needs a public https URL; {label} "
                f"is {shown}",
                provider=self.name,
            )
        template = wire.get("image_data_ref")
        if template is None:
            raise ProviderRejectedRequest(
                f"Luma's {api.name} API needs {label} as a public https URL (it fetches the "
                f"image itself), not a local file: upload the image and pass its https URL",
                provider=self.name,
            )
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ProviderRejectedRequest(f"{label} file not found: {ref}", provider=self.name)
        if path.stat().st_size > _INLINE_LIMIT:
            raise ProviderRejectedRequest(
                f"{label} is larger than the 50 MB Luma accepts inline", provider=self.name
            )
        media_type = mimetypes.guess_type(path.name)[0] or "image/png"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return _fill(template, {"data": data, "media_type": media_type})

    def _video_ref(self, wire: dict[str, Any], ref: str, api: _Api) -> Any:
        match = _GENERATION_ID.fullmatch(ref.strip())
        if match is None:
            shown = redact_url(ref) if "://" in ref else ref
            raise ProviderRejectedRequest(
                "Luma extends only videos it generated itself: pass the Luma generation id "
                f"(e.g. {api.prefix}:<uuid>, a previous attempt's remote id), not {shown!r}",
                provider=self.name,
            )
        prefix, gen_id = match[1], match[2]
        if prefix in _BY_PREFIX and _BY_PREFIX[prefix] is not api:
            raise ProviderRejectedRequest(
                f"generation {ref} was made on Luma's {_BY_PREFIX[prefix].name} API and cannot "
                f"be extended on the {api.name} API",
                provider=self.name,
            )
        return _fill(wire["video_ref"], {"generation_id": gen_id})

    def _body(self, submission: Submission) -> tuple[_Api, str, dict[str, Any]]:
        """The API, create path and JSON body for a submission, from the model's wire facts."""
        model = submission.model
        wire = model.wire
        api = self._api_of_model(wire, model.id)
        inputs: dict[str, str] = wire.get("input", {})
        formats: dict[str, str] = wire.get("format", {})
        values: dict[str, dict[str, Any]] = wire.get("values", {})
        request = submission.request
        body: dict[str, Any] = {}
        for path, value in wire.get("fixed", {}).items():
            _put(body, path, value)
        plain: dict[str, Any] = {
            "model": model.id,
            "prompt": request.prompt,
            "duration": request.duration,
            "aspect_ratio": request.aspect_ratio,
            "resolution": request.resolution,
        }
        for field, value in plain.items():
            if field in inputs:
                mapped = values.get(field, {})
                value = mapped.get(str(value), value)
                _put(body, inputs[field], _format(value, formats.get(field)))
        inputs_given = (
            ("start_image", "a first frame", request.image),
            ("end_image", "a last frame", request.last_frame),
            ("video", "a video to extend", request.video),
        )
        for field, label, ref in inputs_given:
            if not ref:
                continue
            if field not in inputs:
                raise ProviderRejectedRequest(
                    f"Luma model {model.id} does not take {label}", provider=self.name
                )
            if field == "video":
                value = self._video_ref(wire, ref, api)
            else:
                value = self._image_ref(wire, ref, label.replace("a ", "the ", 1), api)
            _put(body, inputs[field], value)
        if submission.callback_url and api.callbacks:
            body["callback_url"] = self._callback_url(submission.callback_url, submission.reference)
        create = str(wire.get("create", f"POST {api.create_path}")).split()[-1]
        return api, create, body

    def _callback_url(self, base: str, reference: str) -> str:
        head, mark, query = base.partition("?")
        token = callback_token(reference, self.settings.webhook_key())
        return f"{head.rstrip('/')}/{token}{mark}{query}"

    # -- the lifecycle -----------------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmitResult:
        api, path, body = self._body(submission)
        response = await self._call(
            api, "POST", path, body=body, headers={REFERENCE_HEADER: submission.reference}
        )
        data = self._json(response)
        gen_id = data.get("id")
        if not isinstance(gen_id, str) or not gen_id:
            # Created, probably, but we cannot name it: an ambiguous outcome (look it up).
            raise ProviderUnavailable(
                f"luma accepted the create ({response.status_code}) but returned no generation id",
                provider=self.name,
                status_code=response.status_code,
            )
        state = api.states.get(str(data.get("state")), TaskState.QUEUED)
        return SubmitResult(remote_id=f"{api.prefix}:{gen_id}", state=state)

    async def poll(self, remote_id: str) -> TaskStatus:
        api, gen_id = self._split(remote_id)
        try:
            response = await self._call(api, "GET", f"/generations/{gen_id}")
        except ProviderError as exc:
            raise gone_if_404(
                exc, f"Luma has no generation {gen_id} (deleted, or never created)", "not_found"
            ) from None
        return self._status(api, gen_id, self._json(response))

    def _status(self, api: _Api, gen_id: str, data: dict[str, Any]) -> TaskStatus:
        raw = str(data.get("state"))
        state = api.states.get(raw, TaskState.RUNNING)  # an unknown state: keep polling
        remote_id = f"{api.prefix}:{gen_id}"
        if state is TaskState.FAILED:
            error = _failure(api, data.get("failure_reason"), data.get("failure_code"))
            return TaskStatus(state=state, error=error.to_dict(), raw_status=raw)
        if state is not TaskState.SUCCEEDED:
            return TaskStatus(state=state, raw_status=raw)
        output = self._output(api, data, remote_id)
        if output is None:
            missing = GenerationFailed(
                "Luma reported the generation completed but gave no video URL",
                provider=self.name,
                provider_code="output_not_found",
            )
            return TaskStatus(state=TaskState.FAILED, error=missing.to_dict(), raw_status=raw)
        return TaskStatus(state=state, progress=1.0, outputs=[output], raw_status=raw)

    @staticmethod
    def _output(api: _Api, data: dict[str, Any], remote_id: str) -> OutputRef | None:
        if api is DREAM_MACHINE:
            assets = data.get("assets") or {}
            url = assets.get("video") if isinstance(assets, dict) else None
            if not isinstance(url, str) or not url:
                return None
            return OutputRef(url=url, remote_id=remote_id, content_type="video/mp4")
        for item in data.get("output") or []:
            if isinstance(item, dict) and item.get("type") == "video" and item.get("url"):
                return OutputRef(
                    url=str(item["url"]),
                    remote_id=remote_id,
                    content_type="video/mp4",
                    expires_at=time.time() + _AGENTS_URL_TTL,
                )
        return None

    async def balance(self) -> Balance | None:
        """``GET /credits`` on the Dream Machine API: ``credit_balance`` in USD cents."""
        data = self._json(await self._call(DREAM_MACHINE, "GET", "/credits"))
        cents = data.get("credit_balance")
        if isinstance(cents, bool) or not isinstance(cents, int | float):
            return None
        return Balance(usd=round(float(cents) / 100, 2))

    def lists(self, remote_id: str) -> bool:
        try:
            return self._split(remote_id)[0].listing
        except ProviderError:
            return False

    async def poll_many(
        self, remote_ids: Sequence[str], *, also: Collection[str] = ()
    ) -> dict[str, PollResult]:
        """Dream Machine tasks from its list (``GET /generations?limit=&offset=``, newest
        first, whole Generation objects), page by page until every one of ``remote_ids`` was
        seen or ``_POLL_PAGES`` were read; the rest (Agents tasks, which cannot be listed, and
        the tasks the pages missed: older, or shifted by new generations between two pages)
        one by one."""
        listed: dict[str, tuple[_Api, str]] = {}
        for remote_id in [*remote_ids, *also]:
            with contextlib.suppress(ProviderError):
                api, gen_id = self._split(remote_id)
                if api.listing:
                    listed[gen_id] = (api, remote_id)
        asked = set(remote_ids)
        wanted = {gen_id for gen_id, (_, r) in listed.items() if r in asked}
        found: dict[str, PollResult] = {}
        seen: set[str] = set()
        for page in range(_POLL_PAGES if wanted else 0):
            response = await self._call(
                DREAM_MACHINE,
                "GET",
                "/generations",
                params={"limit": _LOOKUP_PAGE, "offset": page * _LOOKUP_PAGE},
            )
            data = self._json(response)
            for item in data.get("generations") or []:
                gen_id = str(item.get("id")) if isinstance(item, dict) else ""
                if gen_id in listed and gen_id not in seen:
                    seen.add(gen_id)
                    api, remote_id = listed[gen_id]
                    try:
                        found[remote_id] = self._status(api, gen_id, item)
                    except ProviderError as exc:
                        found[remote_id] = exc
            if wanted <= seen or not data.get("has_more"):
                break
        found.update(await self.poll_each([r for r in remote_ids if r not in found]))
        return found

    async def cancel(self, remote_id: str) -> bool:
        """Dream Machine: DELETE the generation (it is gone afterwards, output included).
        Agents has no cancel: False."""
        api, gen_id = self._split(remote_id)
        if not api.cancel:
            return False
        try:
            await self._call(api, "DELETE", f"/generations/{gen_id}", headers={"Accept": "*/*"})
        except ProviderError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    async def find_by_reference(
        self, reference: str, submission: Submission, since: float
    ) -> str | None:
        api = self._api_of_model(submission.model.wire, submission.model.id)
        if not api.listing:
            raise SubmitUncertain(
                f"a create on Luma's {api.name} API failed ambiguously, and that API can neither "
                f"list generations nor find one by our reference; not submitting again "
                f"(reference {reference})",
                provider=self.name,
            )
        _, _, sent = self._body(submission)
        matches: list[dict[str, Any]] = []
        for page in range(_LOOKUP_PAGES):
            response = await self._call(
                api,
                "GET",
                "/generations",
                params={"limit": _LOOKUP_PAGE, "offset": page * _LOOKUP_PAGE},
            )
            data = self._json(response)
            generations = [g for g in data.get("generations") or [] if isinstance(g, dict)]
            recent = False
            for item in generations:
                created = _timestamp(item.get("created_at"))
                if created is None or created >= since:
                    recent = True
                    if created is not None and _same_request(item, sent):
                        matches.append(item)
            if not generations or not data.get("has_more") or not recent:
                break
        else:
            raise SubmitUncertain(
                f"Luma's generation list is too long to prove whether a create with reference "
                f"{reference} happened; not submitting again",
                provider=self.name,
            )
        if len(matches) > 1 and sent.get("callback_url"):
            matches = [m for m in matches if (m.get("request") or {}).get("callback_url")]
        if len(matches) > 1:
            raise SubmitUncertain(
                f"{len(matches)} Luma generations match the create with reference {reference}; "
                f"cannot tell which is ours, not submitting again",
                provider=self.name,
            )
        if not matches:
            return None
        return f"{api.prefix}:{matches[0]['id']}"

    async def download(self, output: OutputRef, dest: Path) -> None:
        client = self._download_client()
        try:
            await download_to(client, self.name, output.url, dest)
            return
        except ProviderError as exc:
            if exc.status_code not in (401, 403, 404, 410):
                raise
            if not output.remote_id:
                raise _refused(exc) from exc
        fresh = await self.poll(output.remote_id)
        if fresh.state is not TaskState.SUCCEEDED or not fresh.outputs:
            raise GenerationFailed(
                f"the output URL expired and Luma no longer offers an output for "
                f"{output.remote_id} ({fresh.raw_status})",
                provider=self.name,
                provider_code="output_not_found",
            )
        try:
            await download_to(client, self.name, fresh.outputs[0].url, dest)
        except ProviderError as exc:
            if exc.status_code in (401, 403, 404, 410):
                raise _refused(exc) from exc
            raise

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, url_token: str | None = None
    ) -> WebhookEvent:
        """A Dream Machine callback: verify the URL token, then read the Generation in it."""
        verify_callback_token(url_token, self.settings.webhook_key())
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        gen_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(gen_id, str) or not gen_id:
            raise ProviderError(
                "a Luma callback's body is not a Generation object", provider=self.name
            )
        return WebhookEvent(
            remote_id=f"{DREAM_MACHINE.prefix}:{gen_id}",
            status=self._status(DREAM_MACHINE, gen_id, data),
        )


def _same_request(item: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Whether a listed generation was made from the body we sent."""
    echo = item.get("request")
    if not isinstance(echo, dict):
        return False
    if echo.get("prompt") != sent.get("prompt"):
        return False
    if (item.get("model") or echo.get("model")) != sent.get("model"):
        return False
    for key in ("aspect_ratio", "resolution", "duration", "keyframes"):
        if echo.get(key) is not None and echo[key] != sent.get(key):
            return False
    echoed = echo.get("callback_url")
    return echoed is None or _callback_key(echoed) == _callback_key(sent.get("callback_url"))


def _callback_key(url: Any) -> str | None:
    """A callback URL without its token's MAC: the receiver and our reference. (The MAC is left
    out because the secret may have been rotated since, and a lookup must still recognise the
    task it created before.)"""
    if not isinstance(url, str):
        return None
    head, mark, query = url.partition("?")
    base, _, token = head.rpartition("/")
    reference, dot, _mac = token.rpartition(".")
    return f"{base}/{reference if dot else token}{mark}{query}"


def _refused(exc: ProviderError) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"Luma's output URL was refused even after refreshing it ({exc.status_code}); "
        "it may have expired",
        provider="luma",
        status_code=exc.status_code,
        provider_code="output_url_expired",
    )
