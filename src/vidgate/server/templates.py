"""``/v1/templates``: the prompt templates a tenant can use — list, show, create.

``GET /v1/templates`` lists the newest version of each (built-in, the operator's, the
tenant's own); ``GET /v1/templates/{name}`` shows one (``name`` or ``name@version``) with its
versions; ``POST /v1/templates`` stores the tenant's template, or the next version of an
existing name (versions are never edited). A tenant never sees another tenant's templates.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from ..exceptions import InvalidRequest
from ..prompts.templates import Template
from .auth import principal
from .errors import errors
from .gateway import Gateway, gateway
from .schemas import STRUCTURED_PROMPT
from .tenancy import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/templates", tags=["templates"])

#: A template body as large as any real template needs (variables, parts, overrides).
BODY_MAX_BYTES = 64 * 1024

_VARIABLE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["string", "int", "enum", "bool"]},
        "description": {"type": "string", "maxLength": 500},
        "default": {"type": ["string", "integer", "boolean"]},
        "choices": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
        "min": {"type": "integer"},
        "max": {"type": "integer"},
        "max_length": {"type": "integer", "minimum": 1, "maximum": 1000},
        "true_text": {"type": "string", "maxLength": 200},
        "false_text": {"type": "string", "maxLength": 200},
    },
}
_TEMPLATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name", "prompt"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
                        "title": {"type": "string", "maxLength": 200},
                        "description": {"type": "string", "maxLength": 2000},
                        "variables": {
                            "type": "object",
                            "maxProperties": 32,
                            "additionalProperties": _VARIABLE,
                        },
                        "prompt": STRUCTURED_PROMPT,
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "duration": {"type": "number"},
                                "aspect_ratio": {"type": "string"},
                                "resolution": {"type": "string"},
                                "fps": {"type": "integer"},
                                "audio": {"type": "boolean"},
                            },
                        },
                        "overrides": {
                            "type": "object",
                            "maxProperties": 16,
                            "additionalProperties": STRUCTURED_PROMPT,
                            "description": "provider name → parts used for that provider",
                        },
                    },
                }
            }
        },
    }
}


def template_object(template: Template, versions: list[int] | None = None) -> dict[str, Any]:
    body = template.model_dump(mode="json")
    return {
        "object": "template",
        "id": template.ref,
        **body,
        **({"versions": versions} if versions is not None else {}),
    }


@router.get("", summary="List templates (the newest version of each)", responses=errors(401, 429))
async def list_templates(
    who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    found = await asyncio.to_thread(gw.engine.templates.latest, who.tenant)
    return {"object": "list", "data": [template_object(t) for t in found]}


@router.get(
    "/{name}",
    summary="Show a template: NAME (its newest version) or NAME@VERSION",
    responses=errors(400, 401, 404, 429),
)
async def show_template(
    name: str, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        template = gw.engine.templates.get(name, who.tenant)
        versions = [t.version for t in gw.engine.templates.all(who.tenant, template.name)]
        return template_object(template, versions)

    return await asyncio.to_thread(read)


@router.post(
    "",
    summary="Create a template, or the next version of one (versions are never edited)",
    responses=errors(400, 401, 413, 429),
    openapi_extra=_TEMPLATE_BODY,
)
async def create_template(
    request: Request, who: Principal = Depends(principal), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > BODY_MAX_BYTES:
        raise InvalidRequest(f"a template body is at most {BODY_MAX_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("the body must be a UTF-8 JSON object") from None
    template = await asyncio.to_thread(gw.engine.templates.create, body, who.tenant)
    return template_object(template)
