"""The create request of the Replicate adapter (:mod:`vidgate.providers.replicate`): the path and
the ``{"input": {…}}`` body built from the model's ``wire`` table in the catalogue alone, with
image inputs as Replicate takes them (https URLs, ``data:`` URIs, small local files inline).
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError, InvalidRequest, UnsupportedRequest
from .base import Submission

__all__ = ["DATA_URI_LIMIT", "build_create"]

#: The largest local image sent inline as a data URI, in bytes before encoding.
DATA_URI_LIMIT = 256 * 1024

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


# -- the create request ------------------------------------------------------------------------


def _format(value: Any, kind: str | None) -> Any:
    if kind == "int":
        return round(float(value))
    if kind == "bool":
        return bool(value)
    if kind == "str":
        return f"{value:g}" if isinstance(value, float) else str(value)
    if kind == "str_s":
        return f"{value:g}s" if isinstance(value, float) else f"{value}s"
    return value


def _value_key(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _image_uri(ref: str) -> str:
    """An image input as Replicate takes it: https and ``data:`` URIs as they are, a small
    local file inline as a base64 data URI."""
    if ref.startswith(("https://", "data:")):
        return ref
    if "://" in ref:
        raise InvalidRequest(
            f"Replicate takes image inputs as https URLs, not {ref.split('://', 1)[0]}://",
            details={"provider": "replicate"},
        )
    path = Path(ref).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"image file not readable: {path} ({exc.strerror})") from None
    if len(data) > DATA_URI_LIMIT:
        raise InvalidRequest(
            f"{path} is too large to send inline ({len(data) / 1024:.0f} KiB; Replicate takes "
            f"data URIs for files up to {DATA_URI_LIMIT // 1024} KiB): pass an https URL to it",
            details={"provider": "replicate"},
        )
    mime = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    mime = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def build_create(submission: Submission) -> tuple[str, dict[str, Any]]:
    """The create path and JSON body (without webhook fields) for ``submission``, from the
    model's ``wire`` table in the catalogue."""
    model, request = submission.model, submission.request
    wire = model.wire
    names: dict[str, str] = wire["input"]
    formats: dict[str, str] = wire.get("format", {})
    mapped_values: dict[str, dict[str, Any]] = wire.get("values", {})
    _, _, path = str(wire.get("create", f"POST /v1/models/{model.id}/predictions")).partition(" ")
    with_image = request.image is not None
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "duration": request.duration,
        "aspect_ratio": None
        if with_image and wire.get("aspect_ratio_ignored_with_image")
        else request.aspect_ratio,
        "resolution": request.resolution,
        "seed": request.seed,
        "fps": submission.fps,
        "audio": submission.audio,
    }
    inputs: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in names or value is None:
            continue
        value = mapped_values.get(name, {}).get(_value_key(value), value)
        inputs[names[name]] = _format(value, formats.get(name))
    for name, ref in (
        ("start_image", request.image),
        ("end_image", request.last_frame),
        ("video", request.video),
    ):
        if ref is None:
            continue
        if name not in names:
            raise UnsupportedRequest(
                f"{model.ref} takes no {name.replace('_', ' ')} on Replicate",
                details={"provider": "replicate", "model": model.id},
            )
        inputs[names[name]] = _image_uri(ref) if name != "video" else ref
    inputs.update(wire.get("fixed", {}))
    body: dict[str, Any] = {"input": inputs}
    if path.rstrip("/") == "/v1/predictions":
        version = wire.get("version")
        if not isinstance(version, str) or not version:
            raise ConfigurationError(
                f"{model.ref} is pinned to a version (create = {wire.get('create')!r}) but its "
                "catalogue entry names none in wire.version",
                details={"provider": "replicate", "model": model.id},
            )
        body["version"] = version
    return path, body
