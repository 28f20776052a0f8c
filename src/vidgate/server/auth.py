"""Authentication: ``Authorization: Bearer <key>`` on every request, scoped to its tenant."""

from __future__ import annotations

import asyncio

from fastapi import Depends, Request

from ..exceptions import AuthenticationFailed, PermissionDenied
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["admin", "principal"]


async def principal(request: Request, gw: Gateway = Depends(gateway)) -> Principal:
    """The caller, after its key is verified and its rate limit counted."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationFailed("send your API key as 'Authorization: Bearer <key>'")
    who = await asyncio.to_thread(gw.tenants.verify, key.strip())
    request.state.principal = who  # for the access log
    await asyncio.to_thread(gw.tenants.hit_rate_limit, who.tenant)
    return who


async def admin(who: Principal = Depends(principal)) -> Principal:
    if not who.admin:
        raise PermissionDenied("this endpoint needs an admin key")
    return who
