"""What each fal endpoint the simulator twin (:mod:`vidgate.simulator.fal`) serves takes, how an
input is validated against it (FastAPI / pydantic v2 style ``detail`` items), and what a valid
request renders.

The table is written from fal's generated input types, independent of vidgate's catalogue, so
that it checks the adapter's mapping.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any, Literal

from .faults import strip_markers
from .state import RenderSpec

__all__ = ["ENDPOINTS", "Endpoint", "Field", "Kind", "app_of", "validate"]


# -- what each endpoint takes --------------------------------------------------------------------

Kind = Literal["text", "enum", "bool", "int", "number", "url"]


@dataclass(frozen=True)
class Field:
    """One input field's type and limits, as fal's generated input types give them."""

    kind: Kind
    values: tuple[str, ...] = ()
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Endpoint:
    """One fal endpoint: its inputs and what it renders when a field is left out."""

    fields: dict[str, Field]
    required: frozenset[str]
    default_duration: str
    #: The output's short side when the endpoint has no ``resolution`` input (or it is left out).
    default_resolution: str
    default_aspect: str = "16:9"
    default_audio: bool = False
    #: The input whose image the output follows (image-to-video without an aspect input).
    image_field: str | None = None
    #: Whether the result carries the seed it used.
    returns_seed: bool = False

    @property
    def aspects(self) -> tuple[str, ...]:
        found = self.fields.get("aspect_ratio")
        return tuple(v for v in found.values if ":" in v) if found else (self.default_aspect,)


_TEXT = Field("text")
_BOOL = Field("bool")
_URL = Field("url")
_SEED = Field("int", minimum=-1, maximum=2**32 - 1)


def _enum(*values: str) -> Field:
    return Field("enum", values=values)


_VEO_FIELDS = {
    "prompt": _TEXT,
    "aspect_ratio": _enum("16:9", "9:16"),
    "duration": _enum("4s", "6s", "8s"),
    "resolution": _enum("720p", "1080p", "4k"),
    "generate_audio": _BOOL,
    "negative_prompt": _TEXT,
    "auto_fix": _BOOL,
    "safety_tolerance": _enum("1", "2", "3", "4", "5", "6"),
    "seed": _SEED,
}
_VEO_T2V = Endpoint(
    fields=_VEO_FIELDS,
    required=frozenset({"prompt"}),
    default_duration="8s",
    default_resolution="720p",
    default_audio=True,
)
_VEO_I2V = Endpoint(
    fields={**_VEO_FIELDS, "aspect_ratio": _enum("auto", "16:9", "9:16"), "image_url": _URL},
    required=frozenset({"prompt", "image_url"}),
    default_duration="8s",
    default_resolution="720p",
    default_audio=True,
    image_field="image_url",
)
_KLING_T2V = Endpoint(
    fields={
        "prompt": _TEXT,
        "aspect_ratio": _enum("16:9", "9:16", "1:1"),
        "duration": _enum("5", "10"),
        "negative_prompt": _TEXT,
        "cfg_scale": Field("number", minimum=0, maximum=1),
    },
    required=frozenset({"prompt"}),
    default_duration="5",
    default_resolution="1080p",
)
_KLING_I2V = Endpoint(
    fields={
        "prompt": _TEXT,
        "image_url": _URL,
        "tail_image_url": _URL,
        "duration": _enum("5", "10"),
        "negative_prompt": _TEXT,
        "cfg_scale": Field("number", minimum=0, maximum=1),
    },
    required=frozenset({"prompt", "image_url"}),
    default_duration="5",
    default_resolution="1080p",
    image_field="image_url",
)

#: Endpoint id → what it takes (research 2.11, from fal-js ``types/endpoints.ts``).
ENDPOINTS: dict[str, Endpoint] = {
    "fal-ai/veo3.1": _VEO_T2V,
    "fal-ai/veo3.1/fast": _VEO_T2V,
    "fal-ai/veo3.1/image-to-video": _VEO_I2V,
    "fal-ai/veo3.1/fast/image-to-video": _VEO_I2V,
    "fal-ai/kling-video/v2.5-turbo/pro/text-to-video": _KLING_T2V,
    "fal-ai/kling-video/v2.1/master/text-to-video": _KLING_T2V,
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": _KLING_I2V,
    "fal-ai/kling-video/v2.1/pro/image-to-video": _KLING_I2V,
    "fal-ai/minimax/hailuo-02/standard/text-to-video": Endpoint(
        fields={"prompt": _TEXT, "duration": _enum("6", "10"), "prompt_optimizer": _BOOL},
        required=frozenset({"prompt"}),
        default_duration="6",
        default_resolution="768p",
    ),
    "fal-ai/minimax/hailuo-02/pro/image-to-video": Endpoint(
        fields={
            "prompt": _TEXT,
            "image_url": _URL,
            "end_image_url": _URL,
            "prompt_optimizer": _BOOL,
        },
        required=frozenset({"prompt", "image_url"}),
        default_duration="6",
        default_resolution="1080p",
        image_field="image_url",
    ),
    "fal-ai/bytedance/seedance/v1/pro/text-to-video": Endpoint(
        fields={
            "prompt": _TEXT,
            "aspect_ratio": _enum("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
            "duration": _enum(*(str(n) for n in range(2, 13))),
            "resolution": _enum("480p", "720p", "1080p"),
            "camera_fixed": _BOOL,
            "seed": _SEED,
            "num_frames": Field("int", minimum=1, maximum=24 * 12),
            "enable_safety_checker": _BOOL,
        },
        required=frozenset({"prompt"}),
        default_duration="5",
        default_resolution="1080p",
        returns_seed=True,
    ),
    "fal-ai/wan-25-preview/text-to-video": Endpoint(
        fields={
            "prompt": Field("text", max_length=1500),
            "negative_prompt": Field("text", max_length=500),
            "aspect_ratio": _enum("16:9", "9:16", "1:1"),
            "duration": _enum("5", "10"),
            "resolution": _enum("480p", "720p", "1080p"),
            "audio_url": _URL,
            "enable_prompt_expansion": _BOOL,
            "enable_safety_checker": _BOOL,
            "seed": _SEED,
        },
        required=frozenset({"prompt"}),
        default_duration="5",
        default_resolution="1080p",
        returns_seed=True,
    ),
}


def app_of(endpoint_id: str) -> str:
    """The ``{owner}/{app}`` part of an endpoint id, under which its requests live."""
    return "/".join(endpoint_id.split("/")[:2])


# -- validation (FastAPI / pydantic v2 style ``detail`` items) -----------------------------------


def _item(loc: list[str | int], msg: str, kind: str, value: Any = None) -> dict[str, Any]:
    found: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if value is not None:
        found["input"] = value
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_field(name: str, spec: Field, value: Any) -> list[dict[str, Any]]:
    loc: list[str | int] = ["body", name]
    if spec.kind == "text":
        if not isinstance(value, str):
            return [_item(loc, "Input should be a valid string", "string_type", value)]
        if spec.max_length is not None and len(value) > spec.max_length:
            msg = f"String should have at most {spec.max_length} characters"
            return [_item(loc, msg, "string_too_long", value[:40])]
        return []
    if spec.kind == "enum":
        if value not in spec.values:
            allowed = ", ".join(f"'{v}'" for v in spec.values[:-1])
            msg = f"Input should be {allowed} or '{spec.values[-1]}'"
            return [_item(loc, msg, "literal_error", value)]
        return []
    if spec.kind == "bool":
        if not isinstance(value, bool):
            return [_item(loc, "Input should be a valid boolean", "bool_type", value)]
        return []
    if spec.kind == "url":
        if not isinstance(value, str) or not value.startswith(("https://", "http://", "data:")):
            return [_item(loc, "Input should be a valid URL or data URI", "url_parsing", value)]
        return []
    number_ok = (
        _is_int(value)
        if spec.kind == "int"
        else (isinstance(value, int | float) and not isinstance(value, bool))
    )
    if not number_ok:
        word = "integer" if spec.kind == "int" else "number"
        return [_item(loc, f"Input should be a valid {word}", f"{spec.kind}_type", value)]
    if spec.minimum is not None and value < spec.minimum:
        msg = f"Input should be greater than or equal to {spec.minimum:g}"
        return [_item(loc, msg, "greater_than_equal", value)]
    if spec.maximum is not None and value > spec.maximum:
        msg = f"Input should be less than or equal to {spec.maximum:g}"
        return [_item(loc, msg, "less_than_equal", value)]
    return []


def validate(endpoint: Endpoint, body: dict[str, Any]) -> list[dict[str, Any]]:
    """``detail`` items for an input, as the endpoint's FastAPI app would report them."""
    issues: list[dict[str, Any]] = []
    for name in sorted(endpoint.required - set(body)):
        issues.append(_item(["body", name], "Field required", "missing"))
    for name, value in body.items():
        spec = endpoint.fields.get(name)
        if spec is None:
            issues.append(
                _item(["body", name], "Extra inputs are not permitted", "extra_forbidden")
            )
        else:
            issues += _check_field(name, spec, value)
    return issues


# -- what a request renders ----------------------------------------------------------------------


def _image_aspect(uri: Any, allowed: tuple[str, ...], default: str) -> str:
    """The allowed aspect ratio nearest a data-URI image's (a remote image is not fetched)."""
    if not isinstance(uri, str) or not uri.startswith("data:") or "," not in uri:
        return default
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))) as image:
            width, height = image.size
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        return default
    ratio = width / height if height else 1.0

    def distance(aspect: str) -> float:
        w, h = (int(n) for n in aspect.split(":"))
        return abs(w / h - ratio)

    return min(allowed, key=distance)


def _render_spec(endpoint: Endpoint, body: dict[str, Any], prompt: str) -> RenderSpec:
    duration = float(str(body.get("duration", endpoint.default_duration)).removesuffix("s"))
    frames = body.get("num_frames")
    if isinstance(frames, int) and not isinstance(frames, bool) and frames > 0:
        duration = frames / 24
    resolution = str(body.get("resolution", endpoint.default_resolution))
    resolution = "2160p" if resolution == "4k" else resolution
    aspect = body.get("aspect_ratio", endpoint.default_aspect)
    if endpoint.image_field and (aspect == "auto" or "aspect_ratio" not in endpoint.fields):
        aspect = _image_aspect(
            body.get(endpoint.image_field),
            endpoint.aspects if "aspect_ratio" in endpoint.fields else ("16:9", "9:16", "1:1"),
            endpoint.default_aspect,
        )
    seed = body.get("seed")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        seed = None
    return RenderSpec.from_request(
        strip_markers(prompt) or "fal",
        duration,
        resolution,
        str(aspect),
        fps=24,
        seed=seed,
        audio=bool(body.get("generate_audio", endpoint.default_audio)),
    )
