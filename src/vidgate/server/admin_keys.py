"""``/v1/admin/keys``: list, create and revoke API keys (admin keys only).

``GET`` lists keys (never their secrets; ``?tenant=`` for one tenant's). ``POST`` makes one from
``{"tenant": …, "name": …, "admin": false}`` (the tenant is created if it is new, as
``vidgate keys create`` does) and answers with the full key in ``key``: the only time it is
shown. ``DELETE /{id}`` revokes one; requests with it are refused from then on (a dashboard
session signed in with it ends). A key cannot revoke itself here: revoke it with another admin
key, or ``vidgate keys revoke``. The dashboard's Keys page calls the same functions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from ..exceptions import InvalidRequest
from .auth import admin
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import KEY_NAME_MAX_CHARS, ApiKey, Principal, TenantBook

__all__ = ["create_key", "key_object", "revoke_key", "router"]

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=128, examples=["acme"])
    name: str | None = Field(default=None, max_length=KEY_NAME_MAX_CHARS, examples=["ci"])
    admin: bool = Field(default=False, description="an admin key sees every tenant")


def key_object(key: ApiKey) -> dict[str, Any]:
    """A key as the API shows it: never its secret (except ``key`` once, on creation)."""
    found: dict[str, Any] = {
        "object": "api_key",
        "id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "admin": key.admin,
        "created_at": int(key.created_at.timestamp()),
        "last_used_at": int(key.last_used_at.timestamp()) if key.last_used_at else None,
        "revoked_at": int(key.revoked_at.timestamp()) if key.revoked_at else None,
    }
    if key.secret is not None:
        found["key"] = key.secret
    return found


def create_key(book: TenantBook, tenant: str, name: str | None, admin: bool) -> ApiKey:
    """A new key (the tenant made if new); its ``secret`` is the only copy of the full key."""
    return book.create_key(tenant.strip(), admin=admin, name=(name or "").strip() or None)


def revoke_key(book: TenantBook, key_id: str, by: Principal) -> ApiKey:
    """Revoke a key (already revoked: as it is). The caller's own key is refused, so an admin
    cannot lock itself out by mistake."""
    key = book.get_key(key_id)
    if key.id == by.key_id:
        raise InvalidRequest(
            "this is the key you are signed in with: revoke it with another admin key "
            "(or `vidgate keys revoke`)",
            details={"id": key.id},
        )
    if key.revoked_at is None:
        book.revoke(key.id)
    return book.get_key(key.id)


@router.get("", summary="API keys (never their secrets)", responses=errors(401, 403, 429))
async def list_keys(
    tenant: str | None = Query(default=None, max_length=128),
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    found = await asyncio.to_thread(gw.tenants.list_keys, tenant)
    return {"object": "list", "data": [key_object(k) for k in found]}


@router.post(
    "",
    summary="Make an API key: the full key is in this answer only",
    responses=errors(400, 401, 403, 413, 429),
)
async def post_key(
    body: NewKey, _: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    made = await asyncio.to_thread(create_key, gw.tenants, body.tenant, body.name, body.admin)
    return key_object(made)


@router.delete(
    "/{key_id}",
    summary="Revoke an API key (not the one this request uses)",
    responses=errors(400, 401, 403, 404, 429),
)
async def delete_key(
    key_id: str, who: Principal = Depends(admin), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    return key_object(await asyncio.to_thread(revoke_key, gw.tenants, key_id, who))
