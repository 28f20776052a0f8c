"""Simulator twin of Google Veo on Vertex AI (``{location}-aiplatform.googleapis.com``), mounted
at ``/vertex``.

The same Veo wire format as the Gemini API twin (:mod:`vidgate.simulator.gemini`, whose
:class:`~vidgate.simulator.gemini.VeoTwin` this module subclasses), with Vertex's differences
(research ``replicate-fal-veo.md`` sections 3.3 and 3.8; ``google-genai`` 2.34.0 ``_to_vertex``
mappings):

- ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning``
  (``/v1beta1/…`` too, the SDK's version) takes the full parameter set: ``seed``, ``fps``,
  ``generateAudio``, ``storageUri``, ``pubsubTopic``, ``compressionQuality``, ``resizeMode``, top-
  level ``labels``, images by ``gcsUri`` or inline bytes. Vertex is not documented to limit 1080p
  to 8-second clips, so this twin does not (as the catalogue does not). The answer is an
  operation named ``projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{uuid}``.
- ``POST …/models/{m}:fetchPredictOperation`` with ``{"operationName": …}`` polls it. When done,
  ``response`` is ``{videos: [{bytesBase64Encoded, mimeType}], raiMediaFilteredCount}``, or with
  ``storageUri`` set ``{videos: [{gcsUri, mimeType}]}`` (the twin names the object it would
  have written; it serves no ``gs://``). RAI fields sit directly under ``response``.
- Auth is ``Authorization: Bearer <OAuth2 access token>``: without one, 401 ``UNAUTHENTICATED``.

Faults are the Gemini twin's, with these differences: ``auth`` is 401 ``UNAUTHENTICATED``;
``no-credits`` is 403 ``PERMISSION_DENIED`` "requires billing to be enabled"
(``BILLING_DISABLED``); ``500-download`` makes the first read that carries the finished video's
bytes answer 500 (on Vertex that read *is* the download); ``expired-url`` has no URL to expire
(the video comes inline) and is ignored.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ._common import bearer_token
from .faults import Faults
from .gemini import (
    VEO_2_0,
    VEO_3_0,
    Checked,
    Invalid,
    VeoModel,
    VeoTwin,
    google_error,
)
from .state import SimState, SimTask, sim_state

__all__ = ["VERTEX_MODELS", "VertexTwin", "router"]

router = APIRouter()

_VERSIONS = ("v1", "v1beta1")
_COMPRESSION = ("optimized", "lossless")
_RESIZE = ("pad", "crop")
_SEED_MAX = 4_294_967_295

#: Veo on Vertex AI: the GA ``-001`` ids and the previews. Veo 2 here extends videos and makes up
#: to four samples.
VERTEX_MODELS: dict[str, VeoModel] = {
    "veo-3.1-generate-001": VeoModel(),
    "veo-3.1-fast-generate-001": VeoModel(),
    "veo-3.1-generate-preview": VeoModel(),
    "veo-3.1-fast-generate-preview": VeoModel(),
    "veo-3.0-generate-001": VEO_3_0,
    "veo-3.0-fast-generate-001": VEO_3_0,
    "veo-2.0-generate-001": replace(VEO_2_0, extension=True, max_samples=4),
}


class VertexTwin(VeoTwin):
    """Veo on Vertex AI."""

    provider: ClassVar[str] = "vertex"
    label: ClassVar[str] = "Vertex AI"
    service: ClassVar[str] = "aiplatform.googleapis.com"
    models: ClassVar[Mapping[str, VeoModel]] = VERTEX_MODELS
    #: The Gemini API's ``parameters`` but ``numberOfVideos``, and Vertex's own.
    parameters: ClassVar[frozenset[str]] = (VeoTwin.parameters - {"numberOfVideos"}) | {
        "seed",
        "fps",
        "generateAudio",
        "storageUri",
        "pubsubTopic",
        "compressionQuality",
        "resizeMode",
    }
    body_fields: ClassVar[frozenset[str]] = frozenset({"instances", "parameters", "labels"})
    instance_fields: ClassVar[frozenset[str]] = frozenset(
        {"prompt", "image", "lastFrame", "video", "referenceImages", "mask"}
    )
    image_fields: ClassVar[frozenset[str]] = frozenset({"bytesBase64Encoded", "gcsUri", "mimeType"})
    long_clips_above_720p: ClassVar[bool] = False
    id_style: ClassVar[str] = "uuid"

    def authorize(self, request: Request, faults: Faults) -> Response | None:
        if bearer_token(request) is None:
            return google_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        if "auth" in faults:
            return google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_EXPIRED",
                        "domain": "googleapis.com",
                        "metadata": {"service": self.service},
                    }
                ],
            )
        return None

    def no_credits(self, where: Mapping[str, str]) -> Response:
        project = where.get("project", "-")
        return google_error(
            403,
            f"This API method requires billing to be enabled. Please enable billing on project "
            f"#{project} and retry.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "BILLING_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {"service": self.service, "consumer": f"projects/{project}"},
                }
            ],
        )

    def unknown_model(self, model: str, where: Mapping[str, str]) -> Response:
        return google_error(
            404,
            f"Publisher Model `{_resource(where, model)}` was not found or your project "
            "does not have access to it.",
        )

    def operation_name(self, model: str, op_id: str, where: Mapping[str, str]) -> str:
        return f"{_resource(where, model)}/operations/{op_id}"

    def check_video(self, sim: SimState, value: Any) -> None:
        if not isinstance(value, dict):
            raise Invalid("Invalid value at 'instances[0].video': expected a video object")
        if "gcsUri" in value:
            if not isinstance(value["gcsUri"], str) or not value["gcsUri"].startswith("gs://"):
                raise Invalid("Invalid value at 'instances[0].video.gcsUri': expected gs://")
        elif not isinstance(value.get("bytesBase64Encoded"), str):
            raise Invalid("'instances[0].video' needs gcsUri or bytesBase64Encoded")

    def check_extras(self, parameters: dict[str, Any], checked: Checked) -> None:
        seed = parameters.get("seed")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _SEED_MAX:
                raise Invalid(f"'parameters.seed' must be an integer from 0 to {_SEED_MAX}")
            checked.seed = seed
        fps = parameters.get("fps")
        if fps is not None:
            if fps != 24 or isinstance(fps, bool):
                raise Invalid("'parameters.fps' must be 24")
            checked.fps = 24
        audio = parameters.get("generateAudio")
        if audio is not None:
            if not isinstance(audio, bool):
                raise Invalid("Invalid value at 'parameters.generateAudio': expected a boolean")
            if audio and not checked.audio:
                raise Invalid("`generateAudio` isn't supported by this model.")
        checked.audio = bool(audio) and checked.audio
        storage = parameters.get("storageUri")
        if storage is not None:
            if not isinstance(storage, str) or not storage.startswith("gs://"):
                raise Invalid("'parameters.storageUri' must be a gs:// URI")
            checked.storage_uri = storage
        topic = parameters.get("pubsubTopic")
        if topic is not None and (not isinstance(topic, str) or "/topics/" not in topic):
            raise Invalid("'parameters.pubsubTopic' must be projects/{project}/topics/{topic}")
        quality = parameters.get("compressionQuality")
        if quality is not None and str(quality).lower() not in _COMPRESSION:
            raise Invalid("'parameters.compressionQuality' must be optimized or lossless")
        resize = parameters.get("resizeMode")
        if resize is not None and str(resize).lower() not in _RESIZE:
            raise Invalid("'parameters.resizeMode' must be pad or crop")

    def filtered(self, reason: str) -> dict[str, Any]:
        return {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [reason],
        }

    async def succeeded(
        self, request: Request, sim: SimState, task: SimTask
    ) -> dict[str, Any] | Response:
        count = int(task.extra.get("samples", 1))
        videos: list[dict[str, Any]] = []
        storage = task.extra.get("storage_uri")
        if "missing-output" in task.faults:
            pass
        elif storage:
            prefix = f"{str(storage).rstrip('/')}/{task.id}"
            videos = [
                {"gcsUri": f"{prefix}/sample_{index}.mp4", "mimeType": "video/mp4"}
                for index in range(count)
            ]
        else:
            if task.first_download_fails():
                return google_error(500, "Internal error encountered.")
            path = await sim.render(task)
            data = await asyncio.to_thread(path.read_bytes)
            encoded = base64.b64encode(data).decode("ascii")
            videos = [{"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}] * count
        return {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
            "raiMediaFilteredCount": 0,
            "videos": videos,
        }


_VERTEX = VertexTwin()


def _resource(where: Mapping[str, str], model: str) -> str:
    return (
        f"projects/{where.get('project')}/locations/{where.get('location')}"
        f"/publishers/google/models/{model}"
    )


def _unknown_version(version: str) -> Response | None:
    if version in _VERSIONS:
        return None
    return google_error(404, f"API version {version} is not served here (use v1 or v1beta1).")


@router.post(
    "/{version}/projects/{project}/locations/{location}/publishers/google/models/{model}"
    ":predictLongRunning"
)
async def predict_long_running(
    request: Request, version: str, project: str, location: str, model: str
) -> Response:
    wrong = _unknown_version(version)
    if wrong is not None:
        return wrong
    return await _VERTEX.create(request, model, {"project": project, "location": location})


@router.post(
    "/{version}/projects/{project}/locations/{location}/publishers/google/models/{model}"
    ":fetchPredictOperation"
)
async def fetch_predict_operation(
    request: Request, version: str, project: str, location: str, model: str
) -> Response:
    wrong = _unknown_version(version)
    if wrong is not None:
        return wrong
    twin = _VERTEX
    sim = sim_state(request)
    faults = twin.read_faults(request)
    if isinstance(faults, Response):
        return faults
    gate = twin.authorize(request, faults)
    if gate is not None:
        return gate
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return google_error(400, "Invalid JSON payload received.")
    name = body.get("operationName") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        return google_error(400, "'operationName' is required.")
    where = {"project": project, "location": location}
    resource, sep, op_id = name.rpartition("/operations/")
    if not sep or resource != _resource(where, model):
        return google_error(
            400, f"'operationName' {name!r} does not belong to {_resource(where, model)}."
        )
    task = sim.get(twin.provider, op_id)
    if task is None or task.extra.get("name") != name:
        return google_error(404, f"Operation {name} not found.")
    failed = twin.poll_fails(sim, task, faults)
    if failed is not None:
        return failed
    return await twin.operation(request, sim, task)
