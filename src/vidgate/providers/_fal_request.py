"""How the fal adapter (:mod:`vidgate.providers.fal`) addresses and builds a request: the app a
model's requests live under, the ``<owner>/<app>|<request id>`` remote id, the app token on a
webhook URL, and the flat input JSON built from the model's ``wire`` table in the catalogue.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..catalog.schema import ModelProfile
from ..exceptions import InvalidRequest, ProviderError, UnsupportedRequest
from .base import Submission

__all__ = ["app_of", "app_token", "build_input", "split_remote_id"]

_APP = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+$")

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
