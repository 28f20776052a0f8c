"""``/v1/admin/budgets``: budgets and quotas per tenant and per end user (admin keys only).

``PUT /v1/admin/budgets/{tenant}[?user=U]`` replaces the budget with the body's fields
(``daily_usd``, ``monthly_usd``, ``daily_videos``, ``monthly_seconds``, and on the tenant's own
budget ``timezone`` and ``thresholds``); a field left out is no limit. ``GET`` shows budgets with
how each limit stands now (used, reserved, when it resets); ``DELETE`` removes one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from ..accounting import Budget, BudgetBook, check_user
from ..accounting.budgets import BUDGET_FIELDS, LIMITS
from ..exceptions import InvalidRequest
from .auth import admin
from .errors import errors
from .gateway import Gateway, gateway
from .tenancy import Principal

__all__ = ["delete_budget", "list_budgets_of", "replace_budget", "router"]

router = APIRouter(prefix="/v1/admin/budgets", tags=["admin"])

_USD = {"type": ["number", "null"], "minimum": 0}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "daily_usd": _USD,
                        "monthly_usd": _USD,
                        "daily_videos": {"type": ["integer", "null"], "minimum": 0},
                        "monthly_seconds": {"type": ["number", "null"], "minimum": 0},
                        "timezone": {"type": ["string", "null"], "examples": ["Europe/Paris"]},
                        "thresholds": {
                            "type": ["array", "null"],
                            "items": {"type": "number"},
                            "examples": [[50, 80, 100]],
                        },
                    },
                }
            }
        },
    }
}


def _book(gw: Gateway) -> BudgetBook:
    return BudgetBook(gw.engine.database)


def _user(user: str | None) -> str | None:
    return check_user(user) if user else None


@router.get("", summary="Budgets and how they stand", responses=errors(400, 401, 403, 429))
async def list_budgets(
    tenant: str | None = None,
    user: str | None = None,
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    found = await asyncio.to_thread(list_budgets_of, gw, tenant, user)
    return {"object": "list", "data": [b.to_dict() for b in found]}


@router.get(
    "/{tenant}",
    summary="One budget (the tenant's, or ?user=) and how it stands",
    responses=errors(400, 401, 403, 404, 429),
)
async def get_budget(
    tenant: str,
    user: str | None = None,
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    return (await asyncio.to_thread(_book(gw).get, tenant, _user(user))).to_dict()


@router.put(
    "/{tenant}",
    summary="Set a budget (the tenant's, or ?user=): fields left out are no limit",
    responses=errors(400, 401, 403, 413, 429),
    openapi_extra=_BODY,
)
async def put_budget(
    tenant: str,
    request: Request,
    user: str | None = None,
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise InvalidRequest("the body must be a JSON object of budget fields") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object of budget fields")
    budget = await asyncio.to_thread(replace_budget, gw, tenant, user, body)
    return budget.to_dict()


def replace_budget(gw: Gateway, tenant: str, user: str | None, body: dict[str, Any]) -> Budget:
    """A PUT's work (the dashboard's budget form too): the body's fields replace the budget's.
    Every field the body leaves out is cleared (on a user's budget, only the limits: the time
    zone and thresholds are the tenant's). Unknown names are refused."""
    subject = _user(user)
    named = BUDGET_FIELDS if subject is None else LIMITS
    values = {**{name: None for name in named}, **body}
    return _book(gw).set(tenant, subject, values)


@router.delete("/{tenant}", summary="Remove a budget", responses=errors(400, 401, 403, 404, 429))
async def remove_budget(
    tenant: str,
    user: str | None = None,
    _: Principal = Depends(admin),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    subject = await asyncio.to_thread(delete_budget, gw, tenant, user)
    return {"object": "budget.deleted", "tenant": tenant, "user": subject, "deleted": True}


def delete_budget(gw: Gateway, tenant: str, user: str | None) -> str | None:
    """A DELETE's work (the dashboard's too): ``NotFound`` when there is no such budget."""
    subject = _user(user)
    _book(gw).delete(tenant, subject)
    return subject


def list_budgets_of(gw: Gateway, tenant: str | None, user: str | None) -> list[Budget]:
    """A GET's work (the dashboard's list too): budgets with how each stands now."""
    return _book(gw).list(tenant, user=_user(user))
