"""The ``predictLongRunning`` request of the Veo adapters (:mod:`vidgate.providers.google`,
:mod:`vidgate.providers.vertex`), built from the model's ``wire`` table in the catalogue: every
field's place in the body, its spelling and format, the fixed values, wire object templates, and
the image types Veo takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..exceptions import InvalidRequest, UnsupportedRequest
from .base import Submission

__all__ = ["build_predict", "fill_template"]

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


# -- the create request ------------------------------------------------------------------------


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted wire path such as ``instances[0].image`` in ``body``."""
    target: Any = body
    parts = path.split(".")
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        if match is None:
            if last:
                target[part] = value
            else:
                target = target.setdefault(part, {})
            continue
        name, index = match[1], int(match[2])
        items = target.setdefault(name, [])
        while len(items) <= index:
            items.append({})
        if last:
            items[index] = value
        else:
            target = items[index]


def fill_template(template: Any, values: Mapping[str, str]) -> Any:
    """A wire object template (``{"bytesBase64Encoded": "{base64}", …}``) with its
    placeholders filled in."""
    if isinstance(template, dict):
        return {key: fill_template(value, values) for key, value in template.items()}
    if isinstance(template, str):
        match = re.fullmatch(r"\{(\w+)\}", template)
        if match is not None and match[1] in values:
            return values[match[1]]
    return template


def _format(value: Any, kind: str | None) -> Any:
    if kind == "int":
        return round(float(value))
    if kind == "bool":
        return bool(value)
    if kind == "str":
        return str(value)
    return value


def build_predict(
    submission: Submission, media: Mapping[str, Any], **where: str
) -> tuple[str, str, dict[str, Any]]:
    """The method, path and JSON body of the ``predictLongRunning`` call for ``submission``,
    from the model's ``wire`` table. ``media`` holds the wire objects for ``start_image``,
    ``end_image`` and ``video`` (see :meth:`vidgate.providers.google.VeoProvider.media`);
    ``where`` fills the path template (``project``, ``location`` on Vertex)."""
    model, request = submission.model, submission.request
    wire = model.wire
    names: dict[str, str] = wire["input"]
    formats: dict[str, str] = wire.get("format", {})
    spellings: dict[str, dict[str, Any]] = wire.get("values", {})
    values: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "seed": request.seed,
        "fps": request.fps,
        # Only where the model lets it be switched (Vertex); on the Gemini API it is always on
        # and the parameter is refused.
        "audio": submission.audio if "audio" in names else None,
        **media,
    }
    body: dict[str, Any] = {}
    for field, value in values.items():
        if value is None:
            continue
        path = names.get(field)
        if path is None:
            raise UnsupportedRequest(
                f"{model.ref} takes no {field.replace('_', ' ')} on this API",
                details={"provider": model.provider, "model": model.id},
            )
        spelled = spellings.get(field, {}).get(value, value) if isinstance(value, str) else value
        _put(body, path, _format(spelled, formats.get(field)))
    for path, value in wire.get("fixed", {}).items():
        _put(body, path, value)
    refused = set(wire.get("not_accepted", [])) & set(body.get("parameters", {}))
    if refused:  # a catalogue mistake, caught before Google refuses it
        raise UnsupportedRequest(
            f"{model.ref}: the catalogue maps {sorted(refused)} but this API refuses them",
            details={"provider": model.provider, "model": model.id},
        )
    method, _, template = str(wire["create"]).partition(" ")
    path = template.format(model=quote(model.id, safe=""), **where)
    return method, path, body


def _sniff_image(data: bytes, label: str) -> str:
    mime = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise InvalidRequest(f"Veo takes PNG, JPEG or WebP images; {label} is none of these")
    return mime
