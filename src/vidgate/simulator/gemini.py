"""Simulator twin of Google Veo on the Gemini API (``generativelanguage.googleapis.com``),
mounted at ``/gemini``.

Written to the wire contract in the provider research (``replicate-fal-veo.md`` section 3,
request and response shapes read from ``google-genai`` 2.34.0), so that vidgate's ``google``
adapter and the unmodified official client (``genai.Client(api_key=…,
http_options=types.HttpOptions(base_url=…/gemini/))``) both work against it:

- ``POST /v1beta/models/{model}:predictLongRunning``: ``{instances: [{prompt, image?,
  lastFrame?, video?, referenceImages?}], parameters: {aspectRatio, resolution,
  durationSeconds, negativePrompt, personGeneration, sampleCount, enhancePrompt}}`` (the SDK
  sends ``sampleCount``; ``numberOfVideos`` is taken as an alias), validated as Veo does
  (durations 4/6/8; 1080p and 4k only at 8 s; extension only at 720p and 8 s and only of a video
  this API generated; a last frame only with a first frame; the Vertex-only parameters ``seed``,
  ``fps``, ``generateAudio``, ``storageUri``… refused). The answer is an
  operation, ``{"name": "models/{model}/operations/{id}"}``.
- ``GET /v1beta/models/{model}/operations/{id}``: ``{name}`` while it runs (proto3 JSON leaves
  ``done: false`` out), then ``{name, done: true, response: {generateVideoResponse:
  {generatedSamples: [{video: {uri}}]}}}``, or RAI-filtered (``raiMediaFilteredCount`` and
  ``raiMediaFilteredReasons``, no samples), or ``{name, done: true, error: {code, message}}``
  with a gRPC code. No progress is reported, as on the real API.
- ``GET /v1beta/files/{id}:download?alt=media`` (the sample ``uri``): needs the API key, then
  redirects (302) to the simulator's short-lived signed file URL, as Google's download is
  followed to storage. The shared file route applies the output faults.

Every call needs the API key, in ``x-goog-api-key`` (or ``?key=``): without it, 403
``PERMISSION_DENIED``. Errors use Google's envelope ``{"error": {"code", "message", "status",
"details"?}}``. Google ignores unknown headers; vidgate sends ``X-Vidgate-Reference`` on a create,
which this twin uses to count creates per reference (``/_simulator/stats``).

Faults (``X-Simulator-Fault`` header or ``[sim:…]`` in the prompt, plus the global profile):

=========================  =======================================================================
``auth``                   400 ``INVALID_ARGUMENT`` "API key not valid" (``API_KEY_INVALID``), as
                           Google answers a bad key
``invalid``                400 ``INVALID_ARGUMENT``
``no-credits``             429 ``RESOURCE_EXHAUSTED``: prepayment credits depleted (no RetryInfo)
``429``                    429 ``RESOURCE_EXHAUSTED`` with a ``RetryInfo.retryDelay`` of the
                           ``retry-after=N`` value (else 1 s); ``429-no-retry-after``: without it.
                           Once per request (our reference, else the body), so a retry passes
``500-create[=503]``       500 ``INTERNAL`` (or 503 ``UNAVAILABLE``), nothing created, once
``500-after-create``       the operation is created, then 500: an ambiguous failure, once
``moderation``             done at the first read, RAI-filtered: no samples, a reason that names
                           the prompt. ``moderation=2``: refused at create, 400 "couldn't be
                           submitted" (the documented wording of an input safety block)
``moderation-after=N``     done after N s, RAI-filtered, a reason that names the generated video
``fail[=N]``               done part-way with ``error``: 1 ``INTERNAL`` (13), 2
                           ``INVALID_ARGUMENT`` (3), 3 ``DEADLINE_EXCEEDED`` (4), 4 a usage-
                           guidelines refusal (3)
``slow`` / ``hang``        5x latency / never done
``throttled``              not done for the whole latency first (Veo shows no queue state)
``500-poll[=503]``         the operation's first two reads answer 500 (or 503)
``missing-output``         done with an empty ``generatedSamples`` and nothing filtered
``expired-url`` …          the download's redirect target has expired (403 from the file route);
                           ``500-download``, ``truncated``, ``corrupt``, ``wrong-duration``,
                           ``wrong-aspect`` act on the file
=========================  =======================================================================

Webhook faults are accepted and ignored: the twin does not send Gemini's (beta) webhooks.

The Vertex AI twin (:mod:`vidgate.simulator.vertex`) subclasses :class:`VeoTwin`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ._common import CreateFaults, add_task, poll_fails
from .faults import FAULT_HEADER, Faults, UnknownFault, drawable, parse_faults, strip_markers
from .state import RenderSpec, SimState, SimTask, sim_state

__all__ = [
    "GEMINI_MODELS",
    "VEO_2_0",
    "VEO_3_0",
    "GeminiTwin",
    "HTTP_STATUS",
    "VeoModel",
    "VeoTwin",
    "google_error",
    "router",
]

router = APIRouter()

KEY_HEADER = "x-goog-api-key"

#: Google's canonical status name for each HTTP status the twins answer with.
HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: ``fail=N`` → the operation's ``error`` (a ``google.rpc.Status``: gRPC code and message).
_FAILURES: dict[int, tuple[int, str]] = {
    1: (13, "Video generation failed due to an internal error. Please try again later."),
    2: (3, "The input image could not be processed. Use a JPEG or PNG image."),
    3: (4, "Video generation did not finish in time. Please try again."),
    4: (
        3,
        "Veo could not generate videos because the input prompt violates the usage guidelines. "
        "If you think this was an error, send feedback. Support codes: 17301594",
    ),
}
_RAI_INPUT = (
    "Veo could not generate videos because the input prompt violates the usage guidelines. "
    "If you think this was an error, send feedback. Support codes: 29310472"
)
_RAI_OUTPUT = (
    "The generated video was filtered out for not meeting safety requirements. "
    "If you think this was an error, send feedback. Support codes: 90789179"
)
_BLOCKED_AT_SUBMIT = (
    "The prompt couldn't be submitted: it might violate our policies. If you think this was "
    "an error, send feedback. Support codes: 15236754"
)
_RATE_LIMITED = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_NO_CREDITS = (
    "Your prepayment credits are depleted. Please go to AI Studio to manage your project and "
    "billing."
)

_PERSON_GENERATION = ("allow_all", "allow_adult", "dont_allow")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
_REFERENCE_TYPES = ("ASSET", "STYLE")
_RESOLUTION_TIER = {"720p": "720p", "1080p": "1080p", "4k": "2160p"}


def google_error(
    code: int,
    message: str,
    *,
    status: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """Google's JSON error envelope, ``{"error": {"code", "message", "status", "details"?}}``."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status or HTTP_STATUS.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code)


def _error_info(reason: str, service: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service},
    }


@dataclass(frozen=True)
class VeoModel:
    """What one Veo model accepts (research section 3.3; Gemini API docs on ai.google.dev)."""

    durations: tuple[int, ...] = (4, 6, 8)
    resolutions: tuple[str, ...] = ("720p", "1080p", "4k")
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    audio: bool = True
    last_frame: bool = True
    extension: bool = True
    reference_images: bool = True
    max_samples: int = 4


#: Veo 3.0 has no 4k, frames or extension (on both APIs).
VEO_3_0 = VeoModel(
    resolutions=("720p", "1080p"), last_frame=False, extension=False, reference_images=False
)
#: Veo 2 is 5-8 s, silent, and takes no ``resolution`` (720p only); on the Gemini API it has no
#: extension and makes at most two samples.
VEO_2_0 = VeoModel(
    durations=(5, 6, 7, 8),
    resolutions=(),
    audio=False,
    extension=False,
    reference_images=False,
    max_samples=2,
)

#: Veo on the Gemini API.
GEMINI_MODELS: dict[str, VeoModel] = {
    "veo-3.1-generate-preview": VeoModel(),
    "veo-3.1-fast-generate-preview": VeoModel(),
    "veo-3.0-generate-001": VEO_3_0,
    "veo-3.0-fast-generate-001": VEO_3_0,
    "veo-2.0-generate-001": VEO_2_0,
}

#: The faults a create may draw from the global profile (Veo sends no webhooks).
_CREATE_FAULTS = drawable(exclude={"moderation-after"}, webhooks=False)


class Invalid(Exception):
    """A create body Veo refuses: answered 400 ``INVALID_ARGUMENT`` with this message."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Checked:
    """A create body that passed validation, with what the simulator renders from it."""

    prompt: str
    duration: int
    resolution: str
    aspect_ratio: str
    samples: int
    audio: bool
    fps: int = 24
    seed: int | None = None
    storage_uri: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class VeoTwin:
    """The Veo wire format shared by the Gemini API and Vertex AI twins. This class is the Gemini
    API flavour; :class:`vidgate.simulator.vertex.VertexTwin` overrides what differs."""

    provider: ClassVar[str] = "google"
    label: ClassVar[str] = "Gemini API"
    service: ClassVar[str] = "generativelanguage.googleapis.com"
    models: ClassVar[Mapping[str, VeoModel]] = GEMINI_MODELS
    #: ``parameters`` keys this API takes (anything else is refused by name).
    parameters: ClassVar[frozenset[str]] = frozenset(
        {
            "aspectRatio",
            "resolution",
            "durationSeconds",
            "negativePrompt",
            "personGeneration",
            "sampleCount",
            "numberOfVideos",
            "enhancePrompt",
        }
    )
    body_fields: ClassVar[frozenset[str]] = frozenset({"instances", "parameters", "webhookConfig"})
    instance_fields: ClassVar[frozenset[str]] = frozenset(
        {"prompt", "image", "lastFrame", "video", "referenceImages"}
    )
    image_fields: ClassVar[frozenset[str]] = frozenset({"bytesBase64Encoded", "mimeType"})
    #: The Gemini API renders 1080p and 4k only as 8-second clips (ai.google.dev/…/veo).
    long_clips_above_720p: ClassVar[bool] = True
    id_style: ClassVar[str] = "hex"

    # -- auth ------------------------------------------------------------------------------

    def authorize(self, request: Request, faults: Faults) -> Response | None:
        """The API key gate: ``x-goog-api-key`` or ``?key=``."""
        key = request.headers.get(KEY_HEADER) or request.query_params.get("key")
        if not key:
            return google_error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if "auth" in faults:
            return google_error(
                400,
                "API key not valid. Please pass a valid API key.",
                details=[_error_info("API_KEY_INVALID", self.service)],
            )
        return None

    def no_credits(self, where: Mapping[str, str]) -> Response:
        return google_error(429, _NO_CREDITS)

    def unknown_model(self, model: str, where: Mapping[str, str]) -> Response:
        return google_error(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for "
            "predictLongRunning. Call ListModels to see the list of available models and their "
            "supported methods.",
        )

    def operation_name(self, model: str, op_id: str, where: Mapping[str, str]) -> str:
        return f"models/{model}/operations/{op_id}"

    # -- validation ------------------------------------------------------------------------

    def check_image(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(f"Invalid value at '{path}': expected an image object")
        unknown = set(value) - self.image_fields
        if unknown:
            name = sorted(unknown)[0]
            raise Invalid(f"`{name}` isn't supported by the {self.label} in '{path}'.")
        if "gcsUri" in value:
            uri = value["gcsUri"]
            if not isinstance(uri, str) or not uri.startswith("gs://"):
                raise Invalid(f"Invalid value at '{path}.gcsUri': expected a gs:// URI")
        else:
            data = value.get("bytesBase64Encoded")
            if not isinstance(data, str) or not data:
                raise Invalid(f"'{path}' needs bytesBase64Encoded")
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(f"Invalid value at '{path}.bytesBase64Encoded': not base64") from None
        if value.get("mimeType") not in _IMAGE_TYPES:
            raise Invalid(
                f"Invalid value at '{path}.mimeType': expected one of {', '.join(_IMAGE_TYPES)}"
            )

    def check_video(self, sim: SimState, value: Any) -> None:
        """A video to extend: on the Gemini API, ``{uri}`` of a video it generated."""
        if not isinstance(value, dict) or set(value) - {"uri", "encodedVideo", "encoding"}:
            raise Invalid("Invalid value at 'instances[0].video': expected {uri}")
        uri = value.get("uri")
        if not isinstance(uri, str) or not uri:
            raise Invalid("'instances[0].video' needs the uri of a video Veo generated")
        file_id = uri.split("/files/", 1)[-1].split(":", 1)[0].split("?", 1)[0]
        task = _task_of_file(sim, self.provider, file_id)
        if task is None or task.at().phase != "succeeded":
            raise Invalid(
                "Only videos generated by Veo on this API can be extended: "
                f"'instances[0].video.uri' names no such video ({uri[:120]})"
            )

    def check_extras(self, parameters: dict[str, Any], checked: Checked) -> None:
        """Parameters only some flavours take (none on the Gemini API)."""

    def validate(self, sim: SimState, model: VeoModel, body: Any) -> Checked:
        """The create body checked as Veo checks it; raises :class:`Invalid` on the first
        problem (Google reports one at a time)."""
        instance, parameters = self._shape(body)
        prompt = instance.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
            raise Invalid("Invalid value at 'instances[0].prompt': expected a non-empty string")
        if prompt is None and "image" not in instance:
            raise Invalid("'instances[0].prompt' is required unless an image is given")
        self._check_inputs(sim, model, instance)
        duration, resolution, aspect = self._check_format(model, parameters)
        if "video" in instance and (resolution != "720p" or duration != 8):
            raise Invalid("Video extension takes resolution 720p and durationSeconds 8")
        if "referenceImages" in instance and duration != 8:
            raise Invalid("Reference images need durationSeconds 8")
        negative = parameters.get("negativePrompt")
        if negative is not None and not isinstance(negative, str):
            raise Invalid("Invalid value at 'parameters.negativePrompt': expected a string")
        person = parameters.get("personGeneration")
        if person is not None and person not in _PERSON_GENERATION:
            raise Invalid(
                f"Invalid value at 'parameters.personGeneration': use one of "
                f"{', '.join(_PERSON_GENERATION)}"
            )
        samples = parameters.get("sampleCount", parameters.get("numberOfVideos", 1))
        if not _is_int(samples) or not 1 <= int(samples) <= model.max_samples:
            raise Invalid(f"'sampleCount' must be an integer from 1 to {model.max_samples}")
        enhance = parameters.get("enhancePrompt")
        if enhance is not None and not isinstance(enhance, bool):
            raise Invalid("Invalid value at 'parameters.enhancePrompt': expected a boolean")
        checked = Checked(
            prompt=strip_markers(prompt) if prompt else "a Veo image animation",
            duration=duration,
            resolution=_RESOLUTION_TIER.get(resolution, "720p"),
            aspect_ratio=aspect,
            samples=int(samples),
            audio=model.audio,
        )
        self.check_extras(parameters, checked)
        return checked

    def _shape(self, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The one instance and the parameters, with no field this API does not know."""
        if not isinstance(body, dict):
            raise Invalid("Invalid JSON payload received: expected an object")
        unknown = set(body) - self.body_fields
        if unknown:
            raise Invalid(f"`{sorted(unknown)[0]}` isn't supported by the {self.label}.")
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            raise Invalid("'instances' must hold exactly one instance")
        instance = instances[0]
        if not isinstance(instance, dict):
            raise Invalid("Invalid value at 'instances[0]': expected an object")
        unknown = set(instance) - self.instance_fields
        if unknown:
            raise Invalid(f"`{sorted(unknown)[0]}` isn't supported by this model.")
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            raise Invalid("Invalid value at 'parameters': expected an object")
        unknown = set(parameters) - self.parameters
        if unknown:
            raise Invalid(
                f"`{sorted(unknown)[0]}` isn't supported by this model. Please remove it or "
                f"refer to the {self.label} documentation for supported usage."
            )
        return instance, parameters

    def _check_inputs(self, sim: SimState, model: VeoModel, instance: dict[str, Any]) -> None:
        """Images, frames, the video to extend and reference images."""
        if "image" in instance:
            self.check_image(instance["image"], "instances[0].image")
        if "lastFrame" in instance:
            if not model.last_frame:
                raise Invalid("`lastFrame` isn't supported by this model.")
            if "image" not in instance:
                raise Invalid("'instances[0].lastFrame' needs a first frame in 'image'")
            self.check_image(instance["lastFrame"], "instances[0].lastFrame")
        if "video" in instance:
            if not model.extension:
                raise Invalid("`video` isn't supported by this model.")
            if "image" in instance or "lastFrame" in instance:
                raise Invalid("A video extension takes no image or lastFrame")
            self.check_video(sim, instance["video"])
        references = instance.get("referenceImages")
        if references is None:
            return
        if not model.reference_images:
            raise Invalid("`referenceImages` isn't supported by this model.")
        if not isinstance(references, list) or not 1 <= len(references) <= 3:
            raise Invalid("'instances[0].referenceImages' takes 1 to 3 images")
        for index, item in enumerate(references):
            if not isinstance(item, dict) or item.get("referenceType") not in _REFERENCE_TYPES:
                raise Invalid(
                    f"'instances[0].referenceImages[{index}].referenceType' must be one of "
                    f"{', '.join(_REFERENCE_TYPES)}"
                )
            self.check_image(item.get("image"), f"instances[0].referenceImages[{index}].image")

    def _check_format(self, model: VeoModel, parameters: dict[str, Any]) -> tuple[int, str, str]:
        """``durationSeconds``, ``resolution`` and ``aspectRatio``, with their defaults."""
        duration = parameters.get("durationSeconds", 8)
        if not _is_int(duration) or duration not in model.durations:
            allowed = ", ".join(map(str, model.durations))
            raise Invalid(
                f"The number value for `durationSeconds` is out of bound. Please provide a value "
                f"among {allowed}. Got {duration!r}."
            )
        aspect = parameters.get("aspectRatio", "16:9")
        if aspect not in model.aspect_ratios:
            raise Invalid(
                f"Unsupported aspect ratio {aspect!r}: use {' or '.join(model.aspect_ratios)}"
            )
        if "resolution" in parameters and not model.resolutions:
            raise Invalid("`resolution` isn't supported by this model.")
        resolution = parameters.get("resolution", "720p")
        if model.resolutions and resolution not in model.resolutions:
            raise Invalid(
                f"Unsupported resolution {resolution!r}: use one of {', '.join(model.resolutions)}"
            )
        if self.long_clips_above_720p and resolution != "720p" and duration != 8:
            raise Invalid(f"{resolution} videos must be 8 seconds long (durationSeconds: 8)")
        return int(duration), str(resolution), str(aspect)

    # -- create ----------------------------------------------------------------------------

    async def create(self, request: Request, model: str, where: Mapping[str, str]) -> Response:
        sim = sim_state(request)
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        prompt = _prompt_of(body)
        try:
            requested = parse_faults(request.headers.get(FAULT_HEADER), prompt)
        except UnknownFault as exc:
            return google_error(400, str(exc))
        create = CreateFaults.draw(sim, request, raw, requested, _CREATE_FAULTS)
        faults, fires = create.all, create.fires
        gate = self.authorize(request, faults)
        if gate is not None:
            return gate

        if "invalid" in faults:
            return google_error(400, "Request contains an invalid argument. (simulated)")
        model = model.removeprefix("models/")
        rules = self.models.get(model)
        if rules is None:
            return self.unknown_model(model, where)
        try:
            checked = self.validate(sim, rules, body)
        except Invalid as exc:
            return google_error(400, str(exc))
        if "moderation" in faults and faults.value("moderation", 1) == 2:
            return google_error(400, _BLOCKED_AT_SUBMIT)
        if "no-credits" in faults:
            return self.no_credits(where)
        if fires("429"):
            delay = faults.value("retry-after", faults.value("429", 1.0))
            return google_error(429, _RATE_LIMITED, details=_quota_details(self.service, delay))
        if fires("429-no-retry-after"):
            return google_error(429, _RATE_LIMITED, details=_quota_details(self.service, None))
        if fires("500-create"):
            return _server_error(int(faults.value("500-create", 500)))

        op_id = sim.new_id("uuid" if self.id_style == "uuid" else "hex")
        name = self.operation_name(model, op_id, where)
        spec = RenderSpec.from_request(
            checked.prompt,
            float(checked.duration),
            checked.resolution,
            checked.aspect_ratio,
            fps=checked.fps,
            seed=checked.seed,
            audio=checked.audio,
        )
        task_extra = {
            "name": name,
            "body": _summary(body),
            "samples": checked.samples,
            "storage_uri": checked.storage_uri,
            **checked.extras,
        }
        add_task(
            sim, request, self.provider, spec, faults, model=model, extra=task_extra, task_id=op_id
        )
        if fires("500-after-create"):
            return _server_error(500)
        return JSONResponse({"name": name})

    # -- operations ------------------------------------------------------------------------

    def filtered(self, reason: str) -> dict[str, Any]:
        """A done operation's ``response`` when RAI filtering removed every sample."""
        return {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
            "PredictLongRunningResponse",
            "generateVideoResponse": {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": [reason],
            },
        }

    async def succeeded(
        self, request: Request, sim: SimState, task: SimTask
    ) -> dict[str, Any] | Response:
        """A done operation's ``response`` with its samples (each a download URI)."""
        samples: list[dict[str, Any]] = []
        if "missing-output" not in task.faults:
            count = int(task.extra.get("samples", 1))
            samples = [
                {"video": {"uri": self.file_uri(sim, f"{task.id}v{index}")}}
                for index in range(count)
            ]
        return {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
            "PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": samples},
        }

    def file_uri(self, sim: SimState, file_id: str) -> str:
        return f"{sim.config.public_url}/gemini/v1beta/files/{file_id}:download?alt=media"

    async def operation(self, request: Request, sim: SimState, task: SimTask) -> Response:
        """The operation as a read shows it now."""
        name = task.extra["name"]
        timeline = task.at()
        if "moderation" in task.faults:
            return JSONResponse({"name": name, "done": True, "response": self.filtered(_RAI_INPUT)})
        if timeline.phase == "failed" and timeline.failure == "moderation":
            return JSONResponse(
                {"name": name, "done": True, "response": self.filtered(_RAI_OUTPUT)}
            )
        if timeline.phase == "failed":
            code, message = _FAILURES.get(int(task.faults.value("fail", 1)), _FAILURES[1])
            return JSONResponse(
                {"name": name, "done": True, "error": {"code": code, "message": message}}
            )
        if timeline.phase == "succeeded":
            response = await self.succeeded(request, sim, task)
            if isinstance(response, Response):
                return response
            return JSONResponse({"name": name, "done": True, "response": response})
        return JSONResponse({"name": name})

    def read_faults(self, request: Request) -> Faults | Response:
        try:
            return parse_faults(request.headers.get(FAULT_HEADER))
        except UnknownFault as exc:
            return google_error(400, str(exc))

    def poll_fails(self, sim: SimState, task: SimTask, faults: Faults) -> Response | None:
        """``500-poll``: the task's first two reads (or one drawn from the profile) answer 5xx."""
        if poll_fails(sim, task, faults):
            merged = task.faults.merged(faults)
            return _server_error(int(merged.value("500-poll", 500)))
        return None


# -- helpers -----------------------------------------------------------------------------------


def _prompt_of(body: Any) -> str | None:
    if isinstance(body, dict):
        instances = body.get("instances")
        if isinstance(instances, list) and instances and isinstance(instances[0], dict):
            prompt = instances[0].get("prompt")
            return prompt if isinstance(prompt, str) else None
    return None


def _quota_details(service: str, delay: float | None) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": f"{service}/predict_long_running_requests",
                    "quotaId": "PredictLongRunningRequestsPerMinutePerProjectPerModel",
                }
            ],
        }
    ]
    if delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"}
        )
    return details


def _server_error(status: int) -> Response:
    if status == 503:
        return google_error(503, "The model is overloaded. Please try again later.")
    return google_error(500, "An internal error has occurred. Please retry or report the issue.")


def _summary(body: Any) -> Any:
    """The request body without bulky base64 (kept with the task for tests to inspect)."""
    if isinstance(body, dict):
        return {
            k: (
                f"<{len(v) * 3 // 4} bytes>"
                if k in ("bytesBase64Encoded", "encodedVideo") and isinstance(v, str)
                else _summary(v)
            )
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [_summary(v) for v in body]
    return body


def _task_of_file(sim: SimState, provider: str, file_id: str) -> SimTask | None:
    """The task a file id (``<task id>v<sample>``) belongs to."""
    task_id, sep, index = file_id.rpartition("v")
    if not sep or not index.isdigit():
        return None
    task = sim.get(provider, task_id)
    if task is None or int(index) >= int(task.extra.get("samples", 1)):
        return None
    return task


# -- routes ------------------------------------------------------------------------------------


class GeminiTwin(VeoTwin):
    """Veo on the Gemini API: :class:`VeoTwin` as it is."""


_GEMINI = GeminiTwin()


@router.post("/v1beta/models/{model}:predictLongRunning")
async def predict_long_running(request: Request, model: str) -> Response:
    return await _GEMINI.create(request, model, {})


@router.get("/v1beta/models/{model}/operations/{op_id}")
async def get_operation(request: Request, model: str, op_id: str) -> Response:
    twin = _GEMINI
    sim = sim_state(request)
    faults = twin.read_faults(request)
    if isinstance(faults, Response):
        return faults
    gate = twin.authorize(request, faults)
    if gate is not None:
        return gate
    task = sim.get(twin.provider, op_id)
    if task is None or task.model != model:
        return google_error(404, f"Operation models/{model}/operations/{op_id} not found.")
    failed = twin.poll_fails(sim, task, faults)
    if failed is not None:
        return failed
    return await twin.operation(request, sim, task)


@router.get("/v1beta/files/{file_id}:download")
async def download_file(request: Request, file_id: str) -> Response:
    """The sample's URI: needs the API key; redirects to the short-lived signed file."""
    twin = _GEMINI
    sim = sim_state(request)
    faults = twin.read_faults(request)
    if isinstance(faults, Response):
        return faults
    gate = twin.authorize(request, faults)
    if gate is not None:
        return gate
    if request.query_params.get("alt") != "media":
        return google_error(400, "Only media downloads are supported here: add alt=media.")
    task = _task_of_file(sim, twin.provider, file_id)
    if (
        task is None
        or task.at().phase != "succeeded"
        or "moderation" in task.faults
        or "missing-output" in task.faults
    ):
        return google_error(404, f"File files/{file_id} not found or has expired.")
    return RedirectResponse(sim.signed_url(task), status_code=302)
