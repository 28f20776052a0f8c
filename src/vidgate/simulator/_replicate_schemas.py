"""What each official video model the Replicate simulator twin (:mod:`vidgate.simulator.replicate`)
serves accepts (its input schema, research section 1.10), how an input is validated against it
(Replicate's ``invalid_fields``), and what a valid input renders.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .state import RenderSpec

__all__ = ["MODELS", "ModelSchema", "Param", "ParamKind", "validate_input"]


# -- the models ---------------------------------------------------------------------------------

ParamKind = Literal["string", "integer", "number", "boolean", "uri", "uri_list"]


@dataclass(frozen=True)
class Param:
    """One input property of a model's schema (``openapi_schema.components.schemas.Input``)."""

    kind: ParamKind
    required: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    max_items: int | None = None


@dataclass(frozen=True)
class ModelSchema:
    """What Replicate accepts for one official model, and how the twin renders its output."""

    params: dict[str, Param]
    version: str
    #: The input naming the output size, and its values' resolutions (``None``: the value is
    #: the resolution itself, e.g. ``"720p"``); without one, ``default_resolution`` is used.
    resolution_param: str | None = "resolution"
    resolution_values: dict[str, str] | None = None
    default_resolution: str = "720p"
    #: Inputs holding a first frame; when one is given and this is set, the output takes the
    #: image's aspect ratio (the model has no aspect input, or ignores it with an image).
    image_params: tuple[str, ...] = ()
    aspect_follows_image: bool = True
    audio_param: str | None = None
    #: Checks ``predict()`` makes: a message fails the prediction.
    checks: tuple[Callable[[dict[str, Any]], str | None], ...] = ()


def _version(name: str, prefix: str = "") -> str:
    """A stable 64-hex version id; ``prefix`` is the short id the model page shows."""
    digest = hashlib.sha256(f"replicate-twin:{name}".encode()).hexdigest()
    return (prefix + digest)[:64]


_PROMPT = Param("string", required=True)
_TEXT = Param("string")
_URI = Param("uri")
_SEED = Param("integer", minimum=0, maximum=2**32 - 1)


def _veo(name: str, prefix: str, *, last_frame: bool, references: bool, res: str) -> ModelSchema:
    params = {
        "prompt": _PROMPT,
        "aspect_ratio": Param("string", choices=("16:9", "9:16"), default="16:9"),
        "duration": Param("integer", choices=(4, 6, 8), default=8),
        "image": _URI,
        "negative_prompt": _TEXT,
        "resolution": Param("string", choices=("720p", "1080p"), default=res),
        "generate_audio": Param("boolean", default=True),
        "seed": _SEED,
    }
    if last_frame:
        params["last_frame"] = _URI
    if references:
        params["reference_images"] = Param("uri_list", max_items=3)
    return ModelSchema(
        params=params,
        version=_version(name, prefix),
        default_resolution=res,
        image_params=("image",),
        aspect_follows_image=False,
        audio_param="generate_audio",
    )


def _check(
    message: str, broken: Callable[[dict[str, Any]], bool]
) -> Callable[[dict[str, Any]], str | None]:
    """A check ``predict()`` makes: ``message`` fails the prediction when ``broken`` holds."""
    return lambda values: message if broken(values) else None


#: The official video models, from the research (section 1.10; several via third-party mirrors).
MODELS: dict[str, ModelSchema] = {
    "google/veo-3.1": _veo(
        "google/veo-3.1", "ed5b1767", last_frame=True, references=True, res="1080p"
    ),
    "google/veo-3.1-fast": _veo(
        "google/veo-3.1-fast", "e246755a", last_frame=True, references=False, res="720p"
    ),
    "google/veo-3": _veo("google/veo-3", "", last_frame=False, references=False, res="1080p"),
    "google/veo-3-fast": _veo(
        "google/veo-3-fast", "", last_frame=False, references=False, res="1080p"
    ),
    "kwaivgi/kling-v2.5-turbo-pro": ModelSchema(
        params={
            "prompt": _PROMPT,
            "negative_prompt": _TEXT,
            "aspect_ratio": Param("string", choices=("16:9", "9:16", "1:1"), default="16:9"),
            "start_image": _URI,
            "image": _URI,  # deprecated alias of start_image
            "duration": Param("integer", choices=(5, 10), default=5),
        },
        version=_version("kwaivgi/kling-v2.5-turbo-pro"),
        resolution_param=None,
        default_resolution="1080p",
        image_params=("start_image", "image"),
    ),
    "kwaivgi/kling-v2.1": ModelSchema(
        params={
            "prompt": _PROMPT,
            "start_image": Param("uri", required=True),
            "negative_prompt": _TEXT,
            "mode": Param("string", choices=("standard", "pro"), default="standard"),
            "duration": Param("integer", choices=(5, 10), default=5),
            "end_image": _URI,
        },
        version=_version("kwaivgi/kling-v2.1"),
        resolution_param="mode",
        resolution_values={"standard": "720p", "pro": "1080p"},
        default_resolution="720p",
        image_params=("start_image",),
        checks=(
            _check(
                "end_image is only supported in pro mode",
                lambda v: bool(v.get("end_image")) and v.get("mode", "standard") != "pro",
            ),
        ),
    ),
    "minimax/hailuo-02": ModelSchema(
        params={
            "prompt": _PROMPT,
            "first_frame_image": _URI,
            "last_frame_image": _URI,
            "duration": Param("integer", choices=(6, 10), default=6),
            "resolution": Param("string", choices=("512p", "768p", "1080p"), default="1080p"),
            "prompt_optimizer": Param("boolean", default=True),
        },
        version=_version("minimax/hailuo-02", "c43b610e"),
        default_resolution="1080p",
        image_params=("first_frame_image",),
        checks=(
            _check(
                "10 second videos are only supported at 768p resolution",
                lambda v: v.get("duration") == 10 and v.get("resolution", "1080p") != "768p",
            ),
        ),
    ),
    "minimax/hailuo-2.3": ModelSchema(
        params={
            "prompt": _PROMPT,
            "first_frame_image": _URI,
            "duration": Param("integer", choices=(6, 10), default=6),
            "resolution": Param("string", choices=("768p", "1080p"), default="768p"),
            "prompt_optimizer": Param("boolean", default=True),
        },
        version=_version("minimax/hailuo-2.3"),
        default_resolution="768p",
        image_params=("first_frame_image",),
        checks=(
            _check(
                "1080p supports only 6 second videos",
                lambda v: v.get("resolution", "768p") == "1080p" and v.get("duration", 6) != 6,
            ),
        ),
    ),
    "bytedance/seedance-1-pro": ModelSchema(
        params={
            "prompt": _PROMPT,
            "image": _URI,
            "last_frame_image": _URI,
            "duration": Param("integer", minimum=2, maximum=12, default=5),
            "resolution": Param("string", choices=("480p", "720p", "1080p"), default="1080p"),
            "aspect_ratio": Param(
                "string",
                choices=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
                default="16:9",
            ),
            "fps": Param("integer", choices=(24,), default=24),
            "camera_fixed": Param("boolean", default=False),
            "seed": _SEED,
        },
        version=_version("bytedance/seedance-1-pro"),
        default_resolution="1080p",
        image_params=("image",),
        checks=(
            _check(
                "last_frame_image requires image",
                lambda v: bool(v.get("last_frame_image")) and not v.get("image"),
            ),
        ),
    ),
    "wan-video/wan-2.5-i2v": ModelSchema(
        params={
            "prompt": _PROMPT,
            "image": Param("uri", required=True),
            "audio": _URI,
            "duration": Param("integer", choices=(5, 10), default=5),
            "resolution": Param("string", choices=("480p", "720p", "1080p"), default="720p"),
            "negative_prompt": _TEXT,
            "enable_prompt_expansion": Param("boolean", default=True),
            "seed": _SEED,
        },
        version=_version("wan-video/wan-2.5-i2v"),
        default_resolution="720p",
        image_params=("image",),
    ),
}


# -- input validation --------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uri_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "invalid type. Expected: string, given: " + _json_type(value)
    if value.startswith("data:"):
        head, sep, payload = value.partition(",")
        if not sep or not head.endswith(";base64"):
            return "does not match format 'uri': a data URI must be base64-encoded"
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return "does not match format 'uri': the data URI is not valid base64"
        return None
    if not value.startswith(("https://", "http://")):
        return "does not match format 'uri'"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _param_problem(param: Param, value: Any) -> tuple[str, str] | None:
    """``(type, description)`` of what is wrong with one value, gojsonschema-style."""
    expected = {
        "string": isinstance(value, str),
        "integer": _is_int(value),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "uri": True,
        "uri_list": isinstance(value, list),
    }[param.kind]
    if not expected:
        kind = "array" if param.kind == "uri_list" else param.kind
        return "invalid_type", f"invalid type. Expected: {kind}, given: {_json_type(value)}"
    if param.kind == "uri":
        problem = _uri_problem(value)
        return ("format", problem) if problem else None
    if param.kind == "uri_list":
        if param.max_items is not None and len(value) > param.max_items:
            return "array_max_items", f"must have at most {param.max_items} items"
        for item in value:
            problem = _uri_problem(item)
            if problem:
                return "format", problem
        return None
    if param.choices is not None and value not in param.choices:
        listed = ", ".join(json.dumps(c) if isinstance(c, str) else str(c) for c in param.choices)
        return "enum", f"must be one of the following: {listed}"
    if param.minimum is not None and value < param.minimum:
        return "number_gte", f"must be greater than or equal to {param.minimum:g}"
    if param.maximum is not None and value > param.maximum:
        return "number_lte", f"must be less than or equal to {param.maximum:g}"
    return None


def validate_input(schema: ModelSchema, values: Any) -> list[dict[str, str]]:
    """Replicate's ``invalid_fields`` for an input object; empty when it is valid."""
    if not isinstance(values, dict):
        return [{"type": "required", "field": "input", "description": "input is required"}]
    problems: list[dict[str, str]] = []
    for name, param in schema.params.items():
        if param.required and values.get(name) in (None, ""):
            problems.append(
                {"type": "required", "field": "input", "description": f"{name} is required"}
            )
    for name, value in values.items():
        where = f"input.{name}"
        known = schema.params.get(name)
        if known is None:
            problems.append(
                {
                    "type": "additional_property_not_allowed",
                    "field": "input",
                    "description": f"Additional property {name} is not allowed",
                }
            )
            continue
        if value is None and not known.required:
            continue
        found = _param_problem(known, value)
        if found is not None:
            kind, text = found
            problems.append({"type": kind, "field": where, "description": f"{where} {text}"})
    return problems


# -- rendering what was asked --------------------------------------------------------------------


def _image_aspect(uri: Any) -> str | None:
    """The ``W:H`` of a data-URI image (remote images are not fetched by the twin)."""
    if not isinstance(uri, str) or not uri.startswith("data:"):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def _render_spec(schema: ModelSchema, values: dict[str, Any], prompt: str) -> RenderSpec:
    def default(name: str) -> Any:
        param = schema.params.get(name)
        return values.get(name, param.default if param else None)

    resolution = schema.default_resolution
    if schema.resolution_param is not None:
        chosen = default(schema.resolution_param)
        if schema.resolution_values is not None:
            resolution = schema.resolution_values.get(chosen, resolution)
        elif isinstance(chosen, str):
            resolution = chosen
    aspect = default("aspect_ratio") or "16:9"
    image = next((values[p] for p in schema.image_params if values.get(p)), None)
    if image is not None and schema.aspect_follows_image:
        aspect = _image_aspect(image) or aspect
    audio = bool(default(schema.audio_param)) if schema.audio_param else False
    return RenderSpec.from_request(
        prompt,
        float(default("duration") or 5),
        resolution,
        aspect,
        fps=int(default("fps") or 24),
        seed=values.get("seed"),
        audio=audio,
    )
