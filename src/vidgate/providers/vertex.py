"""``vertex``: Google Veo through Vertex AI (``{location}-aiplatform.googleapis.com``), spoken
directly with httpx.

The wire contract is sections 3.3 and 3.8 of the provider research (``replicate-fal-veo.md``);
the simulator twin is :mod:`vidgate.simulator.vertex`. Request building, answer classification,
Google's error envelope, image handling and downloads are the Gemini adapter's
(:class:`vidgate.providers.google.VeoProvider`); this module says what differs:

- **Where.** ``POST /v1/projects/{project}/locations/{location}/publishers/google/models/
  {model}:predictLongRunning`` on ``https://{location}-aiplatform.googleapis.com`` (location
  ``global``: ``https://aiplatform.googleapis.com``). The project comes from
  ``GOOGLE_CLOUD_PROJECT`` (required), the location from ``GOOGLE_CLOUD_LOCATION`` (default
  ``us-central1``); the variable names, URL templates and paths are in ``catalog/data/
  vertex.toml``. ``VIDGATE_VERTEX_BASE_URL`` (or ``VIDGATE_SIMULATOR_URL`` + ``/vertex``)
  replaces the host.
- **Auth** is ``Authorization: Bearer <OAuth2 access token>`` from ``GOOGLE_OAUTH_ACCESS_TOKEN``
  (what ``gcloud auth print-access-token`` prints; it expires after about an hour). Minting tokens
  from service-account credentials (``GOOGLE_APPLICATION_CREDENTIALS``) needs ``google-auth`` and
  is not done here: with only that variable set, every call raises a
  :class:`ConfigurationError` that says so. API-key "express mode" is not used.
- **Requests** take Vertex's parameters where the catalogue maps them: ``seed``, ``fps`` (only
  when the request sets them) and ``generateAudio`` (always, from the request's audio choice).
  Images may also be ``gs://`` URIs (sent as ``{gcsUri, mimeType}``).
- **Polling** is ``POST …/models/{model}:fetchPredictOperation`` with ``{"operationName":
  name}``, where the path's project, location and model come from the operation name itself.
- **Outputs** come back in ``response.videos[]``: ``bytesBase64Encoded`` (vidgate never sets
  ``storageUri``, so this is the normal case) becomes an ``veo-inline:<n>`` output that
  ``download`` fetches by reading the operation again and decoding the bytes to ``dest`` (the
  video is never checkpointed); a ``gcsUri`` cannot be fetched without Cloud Storage access and
  ``download`` raises a :class:`ConfigurationError` naming it. RAI fields sit directly under
  ``response``.
- No cancel, no lookup by reference (``submit_uncertain`` after an ambiguous create), no
  webhooks (Vertex offers a Pub/Sub topic, not used): as on the Gemini API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from ..exceptions import ConfigurationError, MissingCredentials, ProviderError
from .base import Submission
from .google import VeoProvider, fill_template

__all__ = ["BASE_URL_VARIABLE", "DEFAULT_LOCATION", "VertexProvider"]

BASE_URL_VARIABLE = "VIDGATE_VERTEX_BASE_URL"
DEFAULT_LOCATION = "us-central1"

_OPERATION = re.compile(
    r"projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/]+)/operations/([^/]+)"
)


class VertexProvider(VeoProvider):
    """Veo on Vertex AI: bearer token, ``fetchPredictOperation``, videos inline."""

    name: ClassVar[str] = "vertex"
    credential_headers: ClassVar[tuple[str, ...]] = ("Authorization",)

    # -- configuration ---------------------------------------------------------------------

    def _wire(self, model_id: str | None = None) -> dict[str, Any]:
        """A model's ``wire`` table (the first model's for provider-wide facts)."""
        models = self.profile().models
        chosen = next((m for m in models if m.id == model_id), models[0])
        return chosen.wire

    def project(self) -> str:
        variable = str(self._wire()["project_env"])
        value = os.environ.get(variable, "").strip()
        if not value:
            raise ConfigurationError(
                f"provider 'vertex' needs a Google Cloud project: set {variable}",
                details={"provider": self.name, "env_vars": [variable]},
            )
        return value

    def location(self) -> str:
        variable = str(self._wire()["location_env"])
        return os.environ.get(variable, "").strip() or DEFAULT_LOCATION

    def api_base(self, remote_id: str | None = None) -> str:
        """The regional endpoint for the operation's location (else the configured one)."""
        match = _OPERATION.fullmatch(remote_id or "")
        location = match[2] if match else self.location()
        if location == "global":
            official = str(self._wire()["global_base_url"])
        else:
            official = str(self.profile().base_url).replace("{location}", location)
        base = self.setting_url(BASE_URL_VARIABLE, official, simulator_path="/vertex")
        base = base.replace("{location}", location)
        self._poll_after = self.poll_hint(base, official)
        return self.trust(base)

    def auth_headers(self) -> dict[str, str]:
        token_var, *credential_files = self.env_keys()
        token = os.environ.get(token_var, "").strip()
        if token:
            return {"Authorization": f"Bearer {token}"}
        configured = [var for var in credential_files if os.environ.get(var)]
        if configured:
            raise ConfigurationError(
                f"provider 'vertex' found only {configured[0]} (service-account credentials); "
                "minting access tokens from them needs google-auth, which vidgate does not do: "
                f"set {token_var} to a current access token (gcloud auth print-access-token)",
                details={"provider": self.name, "env_vars": [token_var]},
            )
        raise MissingCredentials(self.name, [token_var])

    def credential_hint(self) -> str:
        return f"{self.env_keys()[0]}; access tokens expire after about an hour"

    # -- calls -----------------------------------------------------------------------------

    def create_target(self, submission: Submission) -> tuple[str, dict[str, str]]:
        where = {
            "project": quote(self.project(), safe=""),
            "location": quote(self.location(), safe=""),
        }
        return self.api_base(), where

    async def read_operation(self, remote_id: str) -> dict[str, Any]:
        match = _OPERATION.fullmatch(remote_id)
        if match is None:
            raise ProviderError(
                f"not a Vertex AI operation name: {remote_id[:160]!r}", provider=self.name
            )
        project, location, model_id = match[1], match[2], match[3]
        wire = self._wire(model_id)
        method, _, template = str(wire["poll"]).partition(" ")
        path = template.format(project=project, location=location, model=model_id)
        body = fill_template(
            wire.get("poll_body", {"operationName": "{operation}"}), {"operation": remote_id}
        )
        try:
            response = await self.call(method, self.api_base(remote_id) + path, body=body)
        except ProviderError as exc:
            raise self.gone(exc, remote_id) from None
        return self.json_of(response, remote_id)

    def samples(self, operation: Mapping[str, Any]) -> list[dict[str, Any]]:
        response = operation.get("response")
        videos = response.get("videos") if isinstance(response, dict) else None
        found = []
        for video in videos if isinstance(videos, list) else []:
            if not isinstance(video, dict):
                continue
            mime = str(video.get("mimeType") or "video/mp4")
            if isinstance(video.get("bytesBase64Encoded"), str) and video["bytesBase64Encoded"]:
                found.append({"base64": video["bytesBase64Encoded"], "mime": mime})
            elif isinstance(video.get("gcsUri"), str) and video["gcsUri"]:
                found.append({"uri": video["gcsUri"], "mime": mime})
        return found
