"""``/v1/admin/tenants``: list tenants, show one, change its limits (admin keys only).

A PATCH changes only the limits it names; ``null`` clears one. Fields: ``rate_limit`` (text like
``"60/min"``), ``max_concurrent``, ``daily_videos`` (whole numbers from 1),
``deadline_seconds`` (above 0, up to a day), ``uncertain_submit`` (``fallback`` or ``fail``),
``default_priority`` (``critical``, ``standard``, ``batch``), ``strategies`` (priority →
strategy, merged into the tenant's; a null value clears one priority's), ``cache_similarity``
(above 0 up to 1: the threshold for ``cache: "similar"``), ``delivery_profile`` (delivery
profile keys over ``VIDGATE_DELIVERY_PROFILE``; ``null`` clears it), ``retention`` (days to
keep ``originals_days``, ``renditions_days``, ``quarantine_days``: the tenant's own over the
operator's; ``null`` clears it) and ``safety_policy``
(``vidgate.safety.policy``: merged over the tenant's own, ``null`` clears it; one tenant's GET
and PATCH answer with the effective policy). Every field is validated before anything changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from ..exceptions import InvalidRequest
from ..priority.model import Priority, Strategy
from ..safety.policy import SafetyPolicy, load_policy, store_policy
from ..storage.retention import RetentionPolicy
from .auth import admin
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal, Tenant

__all__ = ["change_tenant", "router", "tenant_details", "tenant_object"]

router = APIRouter(prefix="/v1/admin/tenants", tags=["admin"])

_COUNT = {"type": ["integer", "null"], "minimum": 1}
#: The PATCH body as OpenAPI describes it (the handler reads it raw to tell null from absent).
_LIMITS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "rate_limit": {"type": ["string", "null"], "examples": ["60/min"]},
                        "max_concurrent": _COUNT,
                        "daily_videos": _COUNT,
                        "deadline_seconds": {
                            "type": ["number", "null"],
                            "exclusiveMinimum": 0,
                            "maximum": 86400,
                        },
                        "uncertain_submit": {"enum": ["fallback", "fail", None]},
                        "safety_policy": {
                            "type": ["object", "null"],
                            "examples": [
                                {"actions": {"violence": "flag"}, "on_provider_refusal": "fail"}
                            ],
                        },
                        "default_priority": {"enum": [*(p.value for p in Priority), None]},
                        "strategies": {
                            "type": ["object", "null"],
                            "description": "priority → strategy, merged into the tenant's; "
                            "a null value clears that priority's, null clears them all",
                            "propertyNames": {"enum": [p.value for p in Priority]},
                            "additionalProperties": {"enum": [*(s.value for s in Strategy), None]},
                            "examples": [{"batch": "cheapest", "critical": "reliable"}],
                        },
                        "cache_similarity": {
                            "type": ["number", "null"],
                            "exclusiveMinimum": 0,
                            "maximum": 1,
                        },
                        "delivery_profile": {
                            "type": ["object", "null"],
                            "description": "delivery profile keys, over VIDGATE_DELIVERY_PROFILE",
                            "examples": [{"tiers": ["720p", "480p"], "webm": True}],
                        },
                        "retention": {
                            "type": ["object", "null"],
                            "description": "days to keep files, over the operator's "
                            "retention settings (VIDGATE_RETENTION_ORIGINALS_DAYS …; a null "
                            "value: kept for ever)",
                            "properties": {
                                k: {"type": ["number", "null"], "exclusiveMinimum": 0}
                                for k in ("originals_days", "renditions_days", "quarantine_days")
                            },
                            "additionalProperties": False,
                            "examples": [{"originals_days": 30, "renditions_days": 90}],
                        },
                    },
                }
            }
        },
    }
}


def tenant_object(tenant: Tenant) -> dict[str, Any]:
    return {
        "object": "tenant",
        "name": tenant.name,
        **tenant.limits(),
        "webhook_url": tenant.webhook_url,
        "active_keys": tenant.active_keys,
        "created_at": int(tenant.created_at.timestamp()),
        "updated_at": int(tenant.updated_at.timestamp()),
    }


@router.get("", summary="Every tenant and its limits", responses=errors(401, 403, 429))
async def list_tenants(
    _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    found = await asyncio.to_thread(gw.tenants.tenants)
    return {"object": "list", "data": [tenant_object(t) for t in found]}


@router.get("/{tenant}", summary="One tenant and its limits", responses=errors(401, 403, 404, 429))
async def get_tenant(
    tenant: str, _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    return await asyncio.to_thread(tenant_details, gw, gw.tenants.get_tenant(tenant))


def tenant_details(gw: Gateway, tenant: Tenant) -> dict[str, Any]:
    policy = load_policy(gw.engine.database, tenant.name, gw.engine.settings)
    kept = gw.engine.retention_policy(tenant.name)
    return {**tenant_object(tenant), "safety_policy": policy.to_json(), "retention": kept.as_dict()}


def change_tenant(gw: Gateway, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A PATCH's work (the dashboard's limits form too): every value is checked before any
    changes; the tenant as ``GET`` shows it afterwards."""
    has_policy, has_retention = "safety_policy" in body, "retention" in body
    policy = body.pop("safety_policy", None)
    retention = body.pop("retention", None)
    if policy is not None:
        SafetyPolicy.from_json(policy)  # refused before any limit changes
    if retention is not None:
        try:
            RetentionPolicy.parse(retention)  # likewise
        except ValueError as exc:
            raise InvalidRequest(f"retention: {exc}", details={"field": "retention"}) from None
    tenant = gw.tenants.set_limits(name, body)
    if has_policy:
        store_policy(gw.engine.database, name, policy)
    if has_retention:  # the tenant's own days over the operator's; null: the operator's again
        gw.engine.set_retention_policy(name, retention)
    return tenant_details(gw, tenant)


@router.patch(
    "/{tenant}",
    summary="Change a tenant's limits (only those named; null clears)",
    responses=errors(400, 401, 403, 404, 413, 429),
    openapi_extra=_LIMITS_BODY,
)
async def patch_tenant(
    tenant: str,
    request: Request,
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        raise InvalidRequest("the body must be a JSON object of limits") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object of limits")
    return await asyncio.to_thread(change_tenant, gw, tenant, body)
