"""Authentication: ``Authorization: Bearer <key>`` on every request, scoped to its tenant."""

from __future__ import annotations

import asyncio

from fastapi import Depends, Request

from ..exceptions import AuthenticationFailed, PermissionDenied
from .gateway import Gateway, gateway
from .tenancy import Principal, TenantBook

__all__ = ["admin", "principal"]


async def principal(request: Request, gw: Gateway = Depends(gateway)) -> Principal:
    """The caller, after its key is verified and its rate limit counted."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationFailed("send your API key as 'Authorization: Bearer <key>'")
    book = gw.tenants
    who = book.verified(key)
    if who is None or not book.no_rate_limit(who.tenant):
        # A key not verified lately, or a tenant whose requests are counted: one trip off the
        # loop for both. Otherwise (the usual case) no database read at all.
        return await asyncio.to_thread(_authenticate, book, key.strip(), request)
    request.state.principal = who  # for the access log
    return who


def _authenticate(book: TenantBook, key: str, request: Request) -> Principal:
    who = book.verify(key)
    request.state.principal = who  # for the access log, a refused (429) request's too
    book.hit_rate_limit(who.tenant)
    return who


async def admin(who: Principal = Depends(principal)) -> Principal:
    if not who.admin:
        raise PermissionDenied("this endpoint needs an admin key")
    return who
