"""The create call of the OpenAI simulator twin (:mod:`vidgate.simulator.openai`): the wire
contract it accepts (models, seconds, sizes, snapshots), reading the fields from multipart or
JSON, and OpenAI's checks of them and of the ``input_reference`` image.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile

from ._openai_errors import OpenAIFailure, _invalid_value

__all__ = [
    "CREATE_FIELDS",
    "DEFAULT_MODEL",
    "DEFAULT_SECONDS",
    "DEFAULT_SIZE",
    "IMAGE_TYPES",
    "SECONDS",
    "SIZES",
    "SNAPSHOTS",
    "Upload",
]


# -- the wire contract (section 4.3), kept apart from vidgate's catalogue on purpose: the
# -- contract tests check the adapter and the catalogue against it.
SECONDS = ("4", "8", "12")
_SORA_2_SIZES = ("720x1280", "1280x720")
SIZES: dict[str, tuple[str, ...]] = {
    "sora-2": _SORA_2_SIZES,
    # 1920x1080 / 1080x1920 per the March 2026 guide only.
    "sora-2-pro": (*_SORA_2_SIZES, "1024x1792", "1792x1024", "1080x1920", "1920x1080"),
}
SNAPSHOTS = {
    "sora-2-2025-10-06": "sora-2",
    "sora-2-2025-12-08": "sora-2",
    "sora-2-pro-2025-10-06": "sora-2-pro",
}
DEFAULT_MODEL, DEFAULT_SECONDS, DEFAULT_SIZE = "sora-2", "4", "720x1280"
CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart create, read into memory (images are small)."""

    filename: str | None
    content_type: str | None
    data: bytes


# -- the create call's fields ---------------------------------------------------------------


async def _create_fields(request: Request) -> tuple[dict[str, Any], str]:
    """The create call's fields, from multipart (the SDK) or JSON; and which it was."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        fields: dict[str, Any] = {}
        async with request.form() as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    fields[name] = Upload(value.filename, value.content_type, await value.read())
                else:
                    fields[name] = value
        return fields, "multipart"
    if content_type.startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise OpenAIFailure(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly.)",
            ) from None
        if not isinstance(body, dict):
            raise OpenAIFailure(400, "The request body must be a JSON object.")
        return body, "json"
    raise OpenAIFailure(
        400,
        f"Unsupported content type: '{content_type or 'none'}'. This API method only accepts "
        "'application/json' and 'multipart/form-data' requests.",
    )


def _text_field(fields: dict[str, Any], name: str, default: str | None) -> str | None:
    value = fields.get(name, default)
    if value is None or isinstance(value, str):
        return value
    kind = "an integer" if isinstance(value, int) else f"a {type(value).__name__}"
    if name == "seconds" and isinstance(value, int | float):
        raise OpenAIFailure(
            400,
            "Invalid type for 'seconds': expected one of '4', '8', or '12', but got "
            f"{kind} instead.",
            param=name,
            code="invalid_type",
        )
    raise OpenAIFailure(
        400,
        f"Invalid type for '{name}': expected a string, but got {kind} instead.",
        param=name,
        code="invalid_type",
    )


def _check_image(data: bytes, size: str) -> str:
    """The image's MIME type, if it is a JPEG/PNG/WebP of exactly ``size``."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format or "", image.size
    except (UnidentifiedImageError, OSError):
        raise OpenAIFailure(
            400,
            "Invalid input_reference: the file is not a supported image (jpeg, png or webp).",
            param="input_reference",
            code="invalid_image",
        ) from None
    if fmt not in IMAGE_TYPES:
        raise OpenAIFailure(
            400,
            f"Invalid input_reference format '{fmt.lower()}'. Supported: jpeg, png, webp.",
            param="input_reference",
            code="invalid_image_format",
        )
    if f"{width}x{height}" != size:
        # The wording follows reports of the live API (third-party, unconfirmed).
        raise OpenAIFailure(
            400,
            f"Inpaint image must match the requested width and height (got {width}x{height}, "
            f"requested {size}).",
            param="input_reference",
            code="invalid_value",
        )
    return IMAGE_TYPES[fmt]


def _input_reference(value: Any, size: str) -> dict[str, Any] | None:
    """Check the first-frame image: a file part (multipart) or ``{image_url | file_id}`` (JSON)."""
    if value is None:
        return None
    if isinstance(value, Upload):
        mime = _check_image(value.data, size)
        return {
            "kind": "file",
            "filename": value.filename,
            "content_type": mime,
            "bytes": len(value.data),
        }
    if isinstance(value, dict) and len(value) == 1 and set(value) <= {"image_url", "file_id"}:
        ((kind, ref),) = value.items()
        if not isinstance(ref, str) or not ref:
            raise OpenAIFailure(400, f"Invalid '{kind}'.", param=f"input_reference.{kind}")
        if kind == "image_url" and ref.startswith("data:"):
            _, _, encoded = ref.partition(",")
            try:
                _check_image(base64.b64decode(encoded, validate=True), size)
            except binascii.Error:
                raise OpenAIFailure(
                    400, "Invalid base64 data URL.", param="input_reference.image_url"
                ) from None
        return {"kind": kind, "ref": ref[:200]}
    raise OpenAIFailure(
        400,
        "Invalid 'input_reference': give a file, or an object with exactly one of 'image_url' "
        "or 'file_id'.",
        param="input_reference",
        code="invalid_value",
    )


def _validated(fields: dict[str, Any]) -> tuple[str, str, str, str]:
    """``(prompt, model, seconds, size)`` after OpenAI's checks."""
    unknown = sorted(set(fields) - CREATE_FIELDS)
    if unknown:
        raise OpenAIFailure(
            400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0]
        )
    prompt = _text_field(fields, "prompt", None)
    if not prompt or not prompt.strip():
        raise OpenAIFailure(
            400,
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    model = _text_field(fields, "model", DEFAULT_MODEL) or DEFAULT_MODEL
    family = SNAPSHOTS.get(model, model)
    if family not in SIZES:
        raise _invalid_value("model", model, (*SIZES, *SNAPSHOTS))
    seconds = _text_field(fields, "seconds", DEFAULT_SECONDS) or DEFAULT_SECONDS
    if seconds not in SECONDS:
        raise _invalid_value("seconds", seconds, SECONDS)
    size = _text_field(fields, "size", DEFAULT_SIZE) or DEFAULT_SIZE
    if size not in SIZES[family]:
        raise _invalid_value("size", size, SIZES[family])
    return prompt, model, seconds, size
