"""``replicate``: Replicate's prediction API (``api.replicate.com``), spoken directly with httpx.

The wire contract is section 1 of the provider research (``replicate-fal-veo.md``; section 4 for
webhook signatures); the simulator twin is :mod:`vidgate.simulator.replicate`. What this adapter
knows about Replicate:

- **Requests.** Every call carries ``Authorization: Bearer $REPLICATE_API_TOKEN``. Creates go to
  the model's ``wire.create`` endpoint from ``catalog/data/replicate.toml`` (official models:
  ``POST /v1/models/{owner}/{name}/predictions``; a model pinned to a version would say ``POST
  /v1/predictions`` and carry its full ``wire.version``), with ``{"input": {…}}`` built from the
  model's ``wire`` table alone: ``input`` names each vidgate field's parameter, ``format`` how a
  value is written, ``values`` the model's own words for a value (Kling 2.1's ``mode``),
  ``fixed`` parameters always sent; with ``aspect_ratio_ignored_with_image`` the aspect ratio is
  not sent alongside a first frame. Nothing here branches on a model id. Creates also carry
  ``X-Vidgate-Reference`` (Replicate ignores it; the simulator counts creates by it).
- **Images.** An https URL or a ``data:`` URI goes as it is; a local file is sent inline as a
  base64 data URI if it is at most :data:`DATA_URI_LIMIT` (256 KiB: Replicate recommends data
  URIs only for small files); a larger one must be given as an https URL (uploading through
  ``/v1/files`` is not implemented).
- **``Prefer: wait``** is a head start, never the answer: creates ask Replicate to hold the
  response for :attr:`ReplicateProvider.prefer_wait` seconds (2), which saves a poll on quick
  models; whatever comes back (even ``succeeded``, or an output while still ``processing``) the
  engine then polls ``GET /v1/predictions/{id}`` as usual.
- **``Cancel-After``**: when the request sets ``deadline_seconds``, creates send that many
  seconds (rounded up, at least Replicate's 5 s minimum). The deadline is measured from the
  create, so it is never shorter than what is left of the job's; it is a backstop that stops a
  prediction (and its bill) if its job is lost, the engine's own deadline fires first. Jobs that
  rely on the configured default deadline send none, since a tenant's may be longer.
- **Statuses.** ``starting`` → queued, ``processing`` → running (progress from the last
  tqdm-style ``NN%|…| n/total`` line in ``logs``, as the official client reads it; None when the
  model prints none), ``succeeded`` → the ``output`` URL(s), ``failed`` → a classified error
  (:func:`failure_error`: an error that says the content was flagged, E005, safety… is
  :class:`ContentRejected`, anything else :class:`GenerationFailed`), ``canceled`` and
  ``aborted`` (stopped before it started, e.g. by its ``Cancel-After``) → canceled.
- **Errors** are RFC 7807 problems: 401/403 → :class:`ProviderAuthError`, 402 →
  :class:`InsufficientCredits`, 422 → :class:`ProviderRejectedRequest` (its ``detail`` lists the
  invalid fields), 429 → :class:`RateLimited` with ``Retry-After`` (or the "resets in ~Ns" of the
  detail), 5xx → :class:`ProviderUnavailable`. A create is never retried here.
- **Downloads** happen at once: Replicate deletes inputs, outputs and logs one hour after an API
  prediction, and an output URL **cannot be refreshed**. A refused URL is checked against the
  prediction: if its data was removed the output is gone for good (:class:`GenerationFailed`,
  ``output_deleted``: the video must be generated again). The token is sent with downloads
  (Replicate's file URLs may require it) but only to the API's own host and
  ``replicate.delivery``. ``data:`` outputs are decoded in place.
- **Lookup.** Replicate takes no client reference, so ``find_by_reference`` lists predictions
  created since ``since`` (``created_after``, newest first, cursor pages) and matches the model
  and the input we would send (prompt and every scalar parameter). One match is ours; none
  proves absence; several, or more than :data:`LOOKUP_PAGES` pages, raise
  :class:`SubmitUncertain` rather than risk paying twice.
- **Webhooks.** With ``submission.callback_url`` set, creates send ``webhook`` and
  ``webhook_events_filter = ["start", "completed"]``. ``parse_webhook`` verifies Replicate's
  Standard-Webhooks signature (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,…``
  HMAC-SHA256 keyed with the account's ``whsec_`` secret, constant-time, 300 s tolerance) and
  raises :class:`ProviderAuthError` for a forged, stale or unsigned delivery. The secret is
  ``REPLICATE_WEBHOOK_SECRET``; when it is unset, it is fetched once from ``GET
  /v1/webhooks/default/secret`` with the API token and kept in memory (ahead of time when a
  submit asks for webhooks).

The API token never appears in an error message or the request log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import re
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from .. import requestlog
from ..catalog.schema import ModelProfile
from ..exceptions import (
    GenerationFailed,
    InsufficientCredits,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedRequest,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
)
from ..settings import Settings
from ..webhooks import verify
from ._errors import (
    error_for_status,
    parse_retry_after,
    request_id_of,
    scrub_secret,
)
from ._http import (
    HttpProvider,
    atomic_file,
    created,
    download_to,
    gone_if_404,
    json_object,
    make_client,
)
from ._replicate_inputs import DATA_URI_LIMIT, build_create
from ._replicate_predictions import (
    _STATES,
    _created_at,
    _same_input,
    failure_error,
    parse_progress,
    status_of,
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

__all__ = [
    "DATA_URI_LIMIT",
    "ReplicateProvider",
    "build_create",
    "cancel_after",
    "failure_error",
    "parse_progress",
]

BASE_URL_VARIABLE = "VIDGATE_REPLICATE_BASE_URL"
WEBHOOK_SECRET_VARIABLE = "REPLICATE_WEBHOOK_SECRET"
REFERENCE_HEADER = "X-Vidgate-Reference"
#: Replicate's smallest ``Cancel-After``, in seconds.
MIN_CANCEL_AFTER = 5
#: Webhook events asked for: the start (a first wake-up) and the end.
WEBHOOK_EVENTS = ("start", "completed")
#: How many list pages ``find_by_reference`` reads before giving up (100 predictions a page).
LOOKUP_PAGES = 10
#: How many list pages one ``poll_many`` reads (100 predictions a page, newest first); the tasks
#: they did not show are polled one by one.
POLL_PAGES = 10
#: Download answers that mean "this output URL no longer works".
_URL_REFUSED = frozenset({401, 403, 404, 410})
#: Hosts that may see the API token on a download, besides the API's own.
_DELIVERY_DOMAIN = "replicate.delivery"

_RESETS = re.compile(r"resets in ~?\s*(\d+(?:\.\d+)?)\s*s", re.I)


# -- the create request ------------------------------------------------------------------------


def cancel_after(seconds: float | None) -> str | None:
    """The ``Cancel-After`` header for a job deadline: whole seconds, at least Replicate's 5."""
    if seconds is None:
        return None
    return f"{max(MIN_CANCEL_AFTER, math.ceil(seconds))}s"


# -- the provider ------------------------------------------------------------------------------


class ReplicateProvider(HttpProvider):
    """Replicate over httpx: submit, poll, cancel, download, lookup, signed webhooks."""

    name: ClassVar[str] = "replicate"
    supports_lookup: ClassVar[bool] = True
    #: Seconds a create asks Replicate to hold its answer (``Prefer: wait=N``); 0 sends none.
    prefer_wait: int = 2

    def output_follows_image(self, model: ModelProfile) -> bool:
        """Models with ``wire.aspect_ratio_from_image`` shape their output like the first image."""
        return bool(model.wire.get("aspect_ratio_from_image"))

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._base: str | None = None
        self._secret: str | None = None

    # -- plumbing --------------------------------------------------------------------------

    def _base_url(self) -> str:
        return self.setting_url(
            BASE_URL_VARIABLE, "https://api.replicate.com", simulator_path="/replicate"
        )

    def _new_client(self) -> httpx.AsyncClient:
        self._base = self._base_url()
        return make_client(self.name, base_url=self._base, timeout=60.0)

    def _same_host(self, url: str) -> bool:
        """Whether ``url`` is on the API's host (so it may see the token)."""
        base = urlsplit(self._base or self._base_url())
        target = urlsplit(url)
        return (target.scheme, target.netloc) == (base.scheme, base.netloc)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        if "://" in path and not self._same_host(path):
            raise ProviderError(
                f"replicate pointed at another host ({urlsplit(path).netloc}); not following",
                provider=self.name,
            )
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return await self.authorized(method, path, json=body, headers=headers, **extra)

    def _answer_error(self, response: httpx.Response) -> ProviderError:
        """Replicate's problem answer as a vidgate error: the status decides, the body refines."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        problem = payload if isinstance(payload, dict) else {}
        title, detail = problem.get("title"), problem.get("detail")
        # 422 details list one "- field: problem" line per invalid field.
        lines = [line.strip().removeprefix("- ") for line in str(detail or "").splitlines()]
        parts = [str(title).strip()] if isinstance(title, str) and title.strip() else []
        if any(lines):
            parts.append("; ".join(line for line in lines if line))
        message = ": ".join(parts) or response.text[:300] or response.reason_phrase
        status = response.status_code
        common: dict[str, Any] = {
            "provider": self.name,
            "status_code": status,
            "request_id": request_id_of(response),
        }
        if status in (401, 403):
            return ProviderAuthError(
                f"replicate answered {status}: {message} (check REPLICATE_API_TOKEN)", **common
            )
        if status == 402:
            return InsufficientCredits(
                f"replicate answered 402: {message} Add credit to the Replicate account.",
                **common,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers)
            resets = _RESETS.search(str(detail or ""))
            if retry_after is None and resets is not None:
                retry_after = float(resets[1])
            return RateLimited(
                f"replicate answered 429: {message}", retry_after=retry_after, **common
            )
        if status == 422:
            fields = problem.get("invalid_fields")
            details = {"invalid_fields": fields} if isinstance(fields, list) else None
            code = "invalid_version" if "version" in str(title).lower() else "invalid_input"
            return ProviderRejectedRequest(
                f"replicate answered 422: {message}",
                provider_code=code,
                details=details,
                **common,
            )
        return error_for_status(self.name, response, message)

    async def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        return json_object(self.name, response, what)

    # -- the job lifecycle -----------------------------------------------------------------

    async def submit(self, submission: Submission) -> SubmitResult:
        path, body = await asyncio.to_thread(build_create, submission)
        headers = {REFERENCE_HEADER: submission.reference}
        timeout: float | None = None
        if self.prefer_wait > 0:
            headers["Prefer"] = f"wait={min(self.prefer_wait, 60)}"
            timeout = self.prefer_wait + 30.0
        deadline = cancel_after(submission.request.deadline_seconds)
        if deadline is not None:
            headers["Cancel-After"] = deadline
        if submission.callback_url:
            body["webhook"] = submission.callback_url
            body["webhook_events_filter"] = list(WEBHOOK_EVENTS)
            if not Settings().replicate_webhook_secret and self._secret is None:
                # Ahead of the first delivery; parse_webhook fetches it again if this fails.
                with contextlib.suppress(ProviderError):
                    await self.webhook_secret()
        response = await self._call("POST", path, body=body, headers=headers, timeout=timeout)
        remote_id, data = created(self.name, response, submission.reference, "prediction")
        state = _STATES.get(str(data.get("status")), TaskState.QUEUED)
        return SubmitResult(remote_id=remote_id, state=state)

    async def _prediction(self, remote_id: str) -> dict[str, Any]:
        try:
            response = await self._call("GET", f"/v1/predictions/{quote(remote_id, safe='')}")
        except ProviderError as exc:
            raise gone_if_404(
                exc, f"replicate has no prediction {remote_id}", "prediction_not_found"
            ) from None
        return await self._json(response, f"a read of prediction {remote_id}")

    async def poll(self, remote_id: str) -> TaskStatus:
        return status_of(await self._prediction(remote_id), self.name)

    def lists(self, remote_id: str) -> bool:
        return True

    async def poll_many(
        self, remote_ids: Sequence[str], *, also: Collection[str] = ()
    ) -> dict[str, PollResult]:
        """Read ``GET /v1/predictions`` (newest first, 100 a page, following ``next``) until
        every task of ``remote_ids`` was seen or ``POLL_PAGES`` were read. A listed prediction
        that is still running answers for itself; one that has finished is read on its own
        (``GET /v1/predictions/{id}``, once in its life: its output, metrics and error, which
        the documentation does not promise on a listing), as is every task the pages missed."""
        wanted = set(remote_ids)
        watched = wanted | set(also)
        found: dict[str, PollResult] = {}
        finished: list[str] = []
        url = "/v1/predictions"
        for _ in range(POLL_PAGES):
            page = await self._json(await self._call("GET", url), "a prediction listing")
            results = page.get("results")
            for prediction in results if isinstance(results, list) else []:
                if not isinstance(prediction, dict):
                    continue
                remote_id = str(prediction.get("id"))
                if remote_id not in watched or remote_id in found or remote_id in finished:
                    continue
                status = status_of(prediction, self.name)
                if status.state.terminal:
                    finished.append(remote_id)
                else:
                    found[remote_id] = status
            following = page.get("next")
            if wanted <= found.keys() | set(finished) or not isinstance(following, str):
                break
            url = following
        rest = finished + [
            r for r in dict.fromkeys(remote_ids) if r not in found and r not in finished
        ]
        found.update(await self.poll_each(rest))
        return found

    async def cancel(self, remote_id: str) -> bool:
        """Ask Replicate to cancel; True unless the prediction had already finished (or is
        gone). Cancellation may complete a moment later: polling confirms it."""
        try:
            response = await self._call(
                "POST", f"/v1/predictions/{quote(remote_id, safe='')}/cancel"
            )
        except ProviderError as exc:
            if exc.status_code == 404:
                return False
            raise
        data = await self._json(response, f"the cancel of prediction {remote_id}")
        return str(data.get("status")) not in ("succeeded", "failed")

    async def find_by_reference(
        self, reference: str, submission: Submission, since: float
    ) -> str | None:
        _, body = await asyncio.to_thread(build_create, submission)
        sent: dict[str, Any] = body["input"]
        after = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        url = "/v1/predictions?" + urlencode({"created_after": after})
        matches: list[str] = []
        for _ in range(LOOKUP_PAGES):
            page = await self._json(await self._call("GET", url), "a prediction listing")
            results = page.get("results") or []
            past_since = False
            for prediction in results:
                if not isinstance(prediction, dict):
                    continue
                created = _created_at(prediction)
                if created is not None and created < since:
                    past_since = True
                    continue
                echoed = prediction.get("input")
                if prediction.get("model") == submission.model.id and _same_input(
                    sent, echoed if isinstance(echoed, dict) else {}
                ):
                    matches.append(str(prediction.get("id")))
            following = page.get("next")
            if past_since or not isinstance(following, str) or not following:
                break
            url = following
        else:
            raise SubmitUncertain(
                f"more than {LOOKUP_PAGES * 100} replicate predictions since the create; cannot "
                f"tell whether reference {reference} made one, so not submitting again",
                provider=self.name,
            )
        if len(matches) > 1:
            raise SubmitUncertain(
                f"{len(matches)} replicate predictions ({', '.join(matches)}) match the request "
                f"of reference {reference}; cannot tell which is ours, so not submitting again",
                provider=self.name,
            )
        return matches[0] if matches else None

    # -- downloads -------------------------------------------------------------------------

    def _may_see_token(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        delivery = host == _DELIVERY_DOMAIN or host.endswith("." + _DELIVERY_DOMAIN)
        return (urlsplit(url).scheme == "https" and delivery) or self._same_host(url)

    async def download(self, output: OutputRef, dest: Path) -> None:
        if output.url.startswith("data:"):
            await asyncio.to_thread(_write_data_uri, output.url, dest)
            return
        client = self._http()
        headers = None
        if self._may_see_token(output.url):
            headers = {"Authorization": f"Bearer {self.require_key()}"}
        try:
            await download_to(client, self.name, output.url, dest, headers=headers)
        except ProviderError as exc:
            if exc.status_code not in _URL_REFUSED:
                raise
            raise await self._refused(output, exc) from None

    async def _refused(self, output: OutputRef, exc: ProviderError) -> ProviderError:
        """A refused output URL. Replicate cannot re-issue one: if the prediction's data has
        been removed (one hour after it finished) the output is gone and must be generated
        again; otherwise the refusal may pass, so it is worth another try."""
        prediction: dict[str, Any] = {}
        if output.remote_id:
            with contextlib.suppress(ProviderError):
                prediction = await self._prediction(output.remote_id)
        if prediction.get("data_removed") or (prediction and prediction.get("output") is None):
            return GenerationFailed(
                f"replicate refused the output of prediction {output.remote_id} "
                f"({exc.status_code}) and has removed its data: Replicate deletes outputs one "
                "hour after an API prediction and cannot issue a new URL, so the video must be "
                "generated again",
                provider=self.name,
                status_code=exc.status_code,
                provider_code="output_deleted",
                details={"remote_id": output.remote_id},
            )
        return ProviderUnavailable(
            f"replicate's output URL was refused ({exc.status_code}): {exc.message} (Replicate "
            "output URLs cannot be refreshed; it expires one hour after the prediction)",
            provider=self.name,
            status_code=exc.status_code,
            request_id=exc.request_id,
        )

    # -- webhooks --------------------------------------------------------------------------

    async def webhook_secret(self) -> str:
        """The account's ``whsec_`` signing secret: ``REPLICATE_WEBHOOK_SECRET``, else fetched
        from ``GET /v1/webhooks/default/secret`` and kept."""
        configured = Settings().replicate_webhook_secret
        if configured:
            return configured
        if self._secret is None:
            response = await self._call("GET", "/v1/webhooks/default/secret")
            self._secret = self._secret_from(await self._json(response, "the secret request"))
        return self._secret

    def _secret_from(self, payload: dict[str, Any]) -> str:
        key = payload.get("key")
        if not isinstance(key, str) or not key.startswith("whsec_"):
            raise ProviderAuthError(
                "replicate's webhook secret answer holds no whsec_ key", provider=self.name
            )
        return key

    def _secret_now(self) -> str:
        """The secret for a webhook arriving now: configured, kept, or fetched (blocking, once
        per process, for a process that never submitted with a callback)."""
        configured = Settings().replicate_webhook_secret
        if configured:
            return configured
        if self._secret is not None:
            return self._secret
        key = self.require_key()
        url = self._base_url() + "/v1/webhooks/default/secret"
        started = time.perf_counter()
        status: int | None = None
        try:
            with httpx.Client(timeout=10.0) as client:
                response = client.get(url, headers={"Authorization": f"Bearer {key}"})
            status = response.status_code
            if status >= 400:
                raise scrub_secret(self._answer_error(response), key)
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderAuthError(
                f"cannot verify a replicate webhook: set {WEBHOOK_SECRET_VARIABLE}, or let the "
                f"secret be fetched from /v1/webhooks/default/secret ({type(exc).__name__})",
                provider=self.name,
            ) from None
        except ProviderError as exc:
            raise ProviderAuthError(
                f"cannot verify a replicate webhook: fetching the secret failed: {exc.message}",
                provider=self.name,
                status_code=exc.status_code,
            ) from None
        finally:
            requestlog.record(
                self.name,
                "GET",
                url,
                status_code=status,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        self._secret = self._secret_from(payload if isinstance(payload, dict) else {})
        return self._secret

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, url_token: str | None = None
    ) -> WebhookEvent:
        """Verify a Replicate webhook (``webhook-id``/``-timestamp``/``-signature``, HMAC-SHA256
        with the account's secret, at most 300 s old or early) and read its prediction. The
        status it carries is a hint: the engine polls the prediction to confirm it."""
        secret = self._secret_now()
        try:
            base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ProviderAuthError(
                f"{WEBHOOK_SECRET_VARIABLE} is not a whsec_<base64> secret", provider=self.name
            ) from None
        try:
            verify(secret, headers, body)
        except ValueError as exc:
            raise ProviderAuthError(
                f"rejected a replicate webhook: {exc}", provider=self.name
            ) from None
        try:
            prediction = json.loads(body)
        except ValueError:
            prediction = None
        if not isinstance(prediction, dict) or not prediction.get("id"):
            raise ProviderError(
                "a signed replicate webhook carries no prediction", provider=self.name
            )
        return WebhookEvent(
            remote_id=str(prediction["id"]), status=status_of(prediction, self.name)
        )


def _write_data_uri(uri: str, dest: Path) -> None:
    """A ``data:`` output, decoded to ``dest`` atomically."""
    head, _, payload = uri.partition(",")
    try:
        data = base64.b64decode(payload) if head.endswith(";base64") else payload.encode()
    except (binascii.Error, ValueError):
        raise ProviderError(
            "replicate returned a malformed data: output", provider="replicate"
        ) from None
    with atomic_file(dest) as out:
        out.write(data)
