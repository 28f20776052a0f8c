"""The HTTP shapes: requests in (OpenAI's Videos API fields plus vidgate's) and the Video object
out (OpenAI's, extended). One mapping, used by every route."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError

from ..catalog import Catalog, frame_sizes
from ..exceptions import InvalidRequest, UnknownModel, UnsupportedRequest
from ..media.geometry import dimensions_for
from ..priority.model import Priority, Strategy
from ..prompt_model import FIELD_MAX_CHARS
from ..types import Asset, Job, VideoRequest

__all__ = ["CREATE_BODY", "OPENAI_FIELDS", "VIDGATE_FIELDS", "parse_create", "video_object"]

#: Fields of OpenAI's ``POST /v1/videos``.
OPENAI_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
#: vidgate's own fields on the same endpoint.
VIDGATE_FIELDS = frozenset(
    {
        "duration",
        "aspect_ratio",
        "resolution",
        "fps",
        "negative_prompt",
        "seed",
        "audio",
        "image",
        "first_frame",
        "last_frame",
        "providers",
        "deadline_seconds",
        "metadata",
        "webhook_url",
        "user",
        "template",
        "variables",
        "priority",
        "strategy",
        "cache",
    }
)
_JSON_FIELDS = {"providers", "metadata", "variables"}

#: Bounds on what a create stores (the prompt's 10,000 characters are the request model's own).
#: Metadata follows OpenAI's limits: 16 keys, keys up to 64 characters, values up to 512.
METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512
URL_MAX_CHARS = 2048
MODEL_MAX_CHARS = 128
PROVIDERS_MAX = 16


_TEXT: dict[str, Any] = {"type": "string", "maxLength": URL_MAX_CHARS}
_PART = {"type": "string", "maxLength": 2000}
#: A structured prompt (``vidgate.prompt_model.StructuredPrompt``): each part bounded.
STRUCTURED_PROMPT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {name: {**_PART, "maxLength": FIELD_MAX_CHARS[name]} for name in FIELD_MAX_CHARS},
    "description": "subject and action first, then camera, lighting, atmosphere, style; "
    "negative is what to keep out",
}
_CREATE_PROPERTIES: dict[str, Any] = {
    "prompt": {
        "oneOf": [{"type": "string", "minLength": 1, "maxLength": 10_000}, STRUCTURED_PROMPT],
        "description": "text, or a structured prompt (rendered for each model)",
    },
    "template": {
        "type": "string",
        "maxLength": 140,
        "description": "a template (GET /v1/templates): NAME or NAME@VERSION; prompt is then "
        "optional, and its parts override the template's",
    },
    "variables": {
        "type": "object",
        "maxProperties": 32,
        "additionalProperties": {"type": ["string", "integer", "boolean"]},
        "description": "the template's variables",
    },
    "model": {"type": "string", "maxLength": MODEL_MAX_CHARS, "description": "provider:model"},
    "seconds": {"type": "string", "description": "OpenAI's duration, e.g. '4'"},
    "size": {"type": "string", "description": "WIDTHxHEIGHT, e.g. 1280x720"},
    "duration": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
    "aspect_ratio": {"type": "string", "description": "W:H, e.g. 16:9"},
    "resolution": {"type": "string", "description": "480p, 720p, 1080p, 4k"},
    "fps": {"type": "integer", "minimum": 1, "maximum": 120},
    "negative_prompt": {"type": "string", "maxLength": 10_000},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    "audio": {"type": "boolean"},
    "image": _TEXT,
    "first_frame": _TEXT,
    "last_frame": _TEXT,
    "providers": {"type": "array", "items": {"type": "string"}, "maxItems": PROVIDERS_MAX},
    "deadline_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86_400},
    "metadata": {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_CHARS},
    },
    "webhook_url": _TEXT,
    "user": {
        "type": "string",
        "maxLength": 128,
        "description": "the end user the video is for: their budgets and quotas apply",
    },
    "priority": {
        "enum": [p.value for p in Priority],
        "description": "critical, standard or batch (waits for the off-peak window); "
        "default: the tenant's",
    },
    "strategy": {
        "enum": [s.value for s in Strategy],
        "description": "the order candidates are tried in; default: the tenant's for the priority",
    },
    "cache": {
        "oneOf": [{"type": "boolean"}, {"const": "similar"}],
        "description": "true (default): an identical earlier video (explicit seed, deterministic "
        "model) is served at no cost; false: never; 'similar': also one whose prompt is "
        "near-identical",
    },
}
#: The create (and estimate) body for the OpenAPI document: JSON, or multipart with the same
#: fields (objects and lists JSON-encoded) and an ``input_reference`` image file.
CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        **_CREATE_PROPERTIES,
                        "input_reference": {
                            "type": "object",
                            "properties": {"image_url": _TEXT},
                        },
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **{name: {"type": "string"} for name in _CREATE_PROPERTIES},
                        "input_reference": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


def _too_long(name: str, limit: int) -> InvalidRequest:
    return InvalidRequest(f"{name} is longer than {limit} characters", details={"param": name})


def _check_bounds(values: dict[str, Any]) -> None:
    """Refuse fields larger than anything a real request needs, before they are stored."""
    metadata = values.get("metadata")
    if isinstance(metadata, dict):
        if len(metadata) > METADATA_MAX_KEYS:
            raise InvalidRequest(
                f"metadata has {len(metadata)} keys; at most {METADATA_MAX_KEYS}",
                details={"param": "metadata"},
            )
        for key, value in metadata.items():
            if len(key) > METADATA_MAX_KEY_CHARS:
                raise _too_long("metadata key", METADATA_MAX_KEY_CHARS)
            if not isinstance(value, str):
                raise InvalidRequest(
                    "metadata values must be strings", details={"param": "metadata"}
                )
            if len(value) > METADATA_MAX_VALUE_CHARS:
                raise _too_long("metadata value", METADATA_MAX_VALUE_CHARS)
    elif metadata is not None:
        raise InvalidRequest("metadata must be an object of strings", details={"param": "metadata"})
    for name in ("image", "first_frame", "last_frame", "video", "webhook_url"):
        value = values.get(name)
        if isinstance(value, str) and len(value) > URL_MAX_CHARS:
            raise _too_long(name, URL_MAX_CHARS)
    model = values.get("model")
    if isinstance(model, str) and len(model) > MODEL_MAX_CHARS:
        raise _too_long("model", MODEL_MAX_CHARS)
    providers = values.get("providers")
    if isinstance(providers, list | tuple):
        if len(providers) > PROVIDERS_MAX:
            raise InvalidRequest(
                f"providers names {len(providers)} providers; at most {PROVIDERS_MAX}",
                details={"param": "providers"},
            )
        if any(isinstance(p, str) and len(p) > MODEL_MAX_CHARS for p in providers):
            raise _too_long("providers entry", MODEL_MAX_CHARS)


def _size(value: str, catalog: Catalog, model: str | None) -> tuple[str, str]:
    """``"1280x720"`` → (aspect ratio ``"16:9"``, resolution ``"720p"``): a frame size some
    catalogue model renders (``model``'s, when one is named). Any other size is refused as the
    caller wrote it, with the sizes nearest to it that are offered."""
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise InvalidRequest(f"size must look like 1280x720, not {value!r}") from None
    if width <= 0 or height <= 0:
        raise InvalidRequest(f"size must be positive, not {value!r}")
    models = [catalog.get(model)] if model else list(catalog)
    sizes = frame_sizes(models)
    if (width, height) in sizes:
        resolution, aspect = sizes[(width, height)]
        return aspect, resolution
    for (w, h), (resolution, aspect) in sizes.items():
        # Within 2 % of a rendered shape at the same short side: OpenAI's 1792x1024 is 16:9.
        if min(w, h) == min(width, height) and abs(width / height - w / h) <= 0.02 * w / h:
            return aspect, resolution
    divisor = math.gcd(width, height)
    ratio = f"{width // divisor}:{height // divisor}"
    same_shape = [s for s, (_, a) in sizes.items() if a == ratio]
    same_tier = [s for s in sizes if min(s) == min(width, height)]
    near = sorted(same_shape or same_tier or sizes, key=lambda s: (min(s), s[0]))
    shown = ", ".join(f"{w}x{h}" for w, h in near[:12]) + (", …" if len(near) > 12 else "")
    by = f"{model} renders" if model else "models render"
    raise UnsupportedRequest(
        f"size {value} is not offered; sizes {by}: {shown} (GET /v1/models lists every "
        "model's resolutions and aspect ratios)",
        details={"size": value, "sizes": [f"{w}x{h}" for w, h in near]},
    )


def _model(value: str, catalog: Catalog) -> tuple[str | None, tuple[str, ...]]:
    """A ``model`` value → (explicit ``provider:model``, or a provider restriction)."""
    if value in ("", "auto"):
        return None, ()
    if ":" in value:
        return value, ()
    if value in catalog.providers:
        return None, (value,)
    matches = [m.ref for m in catalog if m.id == value]
    if len(matches) == 1:
        return matches[0], ()
    if matches:
        raise UnknownModel(
            f"model {value!r} is offered by several providers; say which: {', '.join(matches)}"
        )
    raise UnknownModel(
        f"unknown model {value!r}: use 'provider:model' (see GET /v1/models), a provider name, "
        "or 'auto'"
    )


def _prompt(value: Any) -> Any:
    """A prompt: text, or a structured prompt — an object in JSON, a JSON-encoded object in a
    multipart form (the only text a form prompt is read as an object from: it starts with
    ``{`` and parses as one)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return parsed if isinstance(parsed, dict) else value
    if value is not None and not isinstance(value, str | dict):
        raise InvalidRequest(
            "prompt must be text or an object of parts", details={"param": "prompt"}
        )
    return value


def parse_create(
    fields: dict[str, Any],
    catalog: Catalog,
    *,
    upload: str | None = None,
    idempotency_key: str | None = None,
) -> VideoRequest:
    """Build a ``VideoRequest`` from a create body (multipart values arrive as strings)."""
    unknown = set(fields) - OPENAI_FIELDS - VIDGATE_FIELDS
    if unknown:
        raise InvalidRequest(
            f"unknown fields {sorted(unknown)}; known: {sorted(OPENAI_FIELDS | VIDGATE_FIELDS)}"
        )
    values: dict[str, Any] = {}
    for name, raw in fields.items():
        if name in _JSON_FIELDS and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except (ValueError, RecursionError):
                if name == "providers":
                    raw = [p.strip() for p in raw.split(",") if p.strip()]
                else:
                    raise InvalidRequest(f"{name} must be a JSON object") from None
        values[name] = raw
    _check_bounds(values)
    if "prompt" not in values and "template" not in values:
        raise InvalidRequest("prompt is required (or a template)")
    request: dict[str, Any] = {"prompt": _prompt(values.pop("prompt", ""))}
    seconds = values.pop("seconds", None)
    if "duration" not in values and seconds is not None:
        values["duration"] = seconds
    model = values.pop("model", None)
    if model is not None:
        explicit, providers = _model(str(model), catalog)
        request["model"] = explicit
        if providers and "providers" not in values:
            values["providers"] = providers
    size = values.pop("size", None)
    if size is not None:
        aspect, resolution = _size(str(size), catalog, request.get("model"))
        values.setdefault("aspect_ratio", aspect)
        values.setdefault("resolution", resolution)
    if "first_frame" in values:
        values["image"] = values.pop("first_frame")
    values.pop("input_reference", None)
    if upload is not None:
        values["image"] = upload
    request.update(values)
    if idempotency_key:
        request["idempotency_key"] = idempotency_key
    try:
        return VideoRequest.model_validate(request)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidRequest(problems) from None


def video_object(job: Job, urls: dict[str, str] | None = None) -> dict[str, Any]:
    """A job as OpenAI's Video object, plus vidgate's fields."""
    request = job.request
    width, height = dimensions_for(request.resolution, request.aspect_ratio)
    if job.output is not None and job.output.media is not None:
        width, height = job.output.media.width, job.output.media.height
    error = None
    if job.error is not None:
        error = {"code": job.error.code, "message": job.error.message}
    return {
        "id": job.id,
        "object": "video",
        "created_at": int(job.created_at.timestamp()),
        "completed_at": int(job.completed_at.timestamp()) if job.completed_at else None,
        "expires_at": None,
        "status": job.status.value,
        "progress": round(job.progress),
        "model": f"{job.provider}:{job.model}" if job.provider else (request.model or "auto"),
        "seconds": f"{request.duration:g}",
        "size": f"{width}x{height}",
        "error": error,
        "remixed_from_video_id": None,
        # vidgate's own fields
        "phase": job.phase.value,
        "provider": job.provider,
        "prompt": request.prompt,
        "prompt_parts": request.prompt_parts.model_dump(mode="json")
        if request.prompt_parts is not None
        else None,
        "negative_prompt": request.negative_prompt,
        "template": request.template,
        "variables": request.variables,
        "hints": [h.model_dump(mode="json") for h in job.hints],
        # What the moderation at admission decided: flag or allow, the categories, who checked.
        "moderation": job.moderation.model_dump(mode="json") if job.moderation else None,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "metadata": request.metadata,
        "user": request.user,
        # Priority and strategy (issue 11 §6): how the candidates were ranked is in routing.
        "priority": request.priority.value if request.priority else None,
        "strategy": (job.routing or {}).get("strategy"),
        "not_before": int(job.not_before.timestamp()) if job.not_before else None,
        "attempts": [
            {
                "number": a.number,
                "provider": a.provider,
                "model": a.model,
                "remote_id": a.remote_id,
                "status": a.status.value,
                "outcome": a.outcome.value if a.outcome else None,
                "error": a.error.model_dump(mode="json") if a.error else None,
                "cost_usd": a.cost_usd,
                # billed (the provider said so), computed, or estimated (accounting.charges)
                "cost_basis": a.cost_basis.value if a.cost_basis else None,
                # A create that may have succeeded where the provider cannot be asked: the job
                # went on elsewhere, and this is what the task would cost if it ran.
                "possible_orphan": a.possible_orphan,
                "orphan_cost_usd": a.orphan_cost_usd,
                # Exactly what this attempt sent: the rendered prompt and negative prompt.
                "prompt_sent": a.prompt_sent.model_dump(mode="json") if a.prompt_sent else None,
            }
            for a in job.attempts
        ],
        "routing": job.routing,
        # Served from the result cache: the earlier job, and how its request matched.
        "cached": job.cached is not None,
        "cached_from": job.cached.job_id if job.cached else None,
        "cache_match": job.cached.model_dump(mode="json") if job.cached else None,
        "quote": job.quote.model_dump(mode="json") if job.quote else None,
        "cost_usd": job.cost_usd,
        "media": job.output.media.model_dump(mode="json")
        if job.output is not None and job.output.media is not None
        else None,
        # The content scan: verdict (allow, flag, block, defective, skipped), the flagged
        # categories, the top score per category and the frames that triggered it.
        "scan": job.scan.model_dump(
            mode="json",
            include={"verdict", "attempt", "categories", "scores", "frames", "released"},
        )
        if job.scan is not None
        else None,
        # Every stored file (issue 13): the original, the renditions, HLS, stills, with facts.
        "assets": [asset_object(a) for a in job.assets],
        "urls": urls or {},
    }


def asset_object(asset: Asset) -> dict[str, Any]:
    """One delivered variant as the API lists it: what it is and how to ask for it
    (``/content?variant=<variant>``)."""
    facts = asset.facts
    media = asset.media
    return {
        "variant": asset.kind,
        "content_type": asset.content_type,
        "bytes": facts.bytes if facts else asset.size_bytes,
        "sha256": asset.sha256,
        "codec": facts.codec if facts else (media.video_codec if media else None),
        "codecs": facts.codecs if facts else None,
        "audio_codec": facts.audio_codec if facts else (media.audio_codec if media else None),
        "width": facts.width if facts else (media.width if media else None),
        "height": facts.height if facts else (media.height if media else None),
        "fps": facts.fps if facts else (media.fps if media else None),
        "bitrate": facts.bitrate if facts else (media.bit_rate if media else None),
        "duration": facts.duration if facts else (media.duration if media else None),
        "files": len(facts.files) if facts else 1,
        "remuxed": facts.remuxed if facts else None,
    }
