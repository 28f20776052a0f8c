"""``vidgate tenants``: the gateway's tenants and their limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ..exceptions import InvalidRequest
from ..safety.categories import POLICY_CATEGORIES
from ..safety.policy import SafetyPolicy, load_policy, store_policy
from ..server.tenancy import Tenant, TenantBook
from ._console import friendly, out, print_json
from ._tenancy import (
    ConcurrentOption,
    DailyOption,
    DeadlineOption,
    PriorityDefaultOption,
    RateOption,
    SimilarityOption,
    StrategiesOption,
    UncertainOption,
    limit_flags,
    strategy_flags,
)
from ._tenancy import book as _book

app = typer.Typer(help="List tenants and show or change their limits.", no_args_is_help=True)


def _row(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.name,
        **tenant.limits(),
        "webhook_url": tenant.webhook_url,
        "active_keys": tenant.active_keys,
        "created_at": tenant.created_at.isoformat(),
        "updated_at": tenant.updated_at.isoformat(),
    }


SafetyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--safety",
        help="The tenant's content-safety policy, repeatable: CATEGORY=block|flag|allow "
        "(CATEGORY=none drops the tenant's own action), default=ACTION, "
        "on_provider_refusal=fallback|fail, on_output_block=fail|fallback; "
        "'--safety none' clears the tenant's policy (the operator's default applies).",
    ),
]
_POLICY_KEYS = ("default", "on_provider_refusal", "on_output_block")


def safety_flags(values: list[str]) -> dict[str, Any] | None:
    """``--safety`` values as a policy change (``None``: clear the tenant's policy)."""
    if [v.strip().lower() for v in values] == ["none"]:
        return None
    change: dict[str, Any] = {}
    actions: dict[str, str | None] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise InvalidRequest(f"--safety takes KEY=VALUE (e.g. violence=flag), not {raw!r}")
        if key in _POLICY_KEYS:
            change[key] = value
        elif key in POLICY_CATEGORIES:
            actions[key] = None if value.lower() == "none" else value
        else:
            raise InvalidRequest(
                f"--safety: unknown key {key!r}; a category ({', '.join(POLICY_CATEGORIES)}) "
                f"or one of {', '.join(_POLICY_KEYS)}"
            )
    if actions:
        change["actions"] = actions
    return change


def _policy_row(book: TenantBook, name: str) -> dict[str, Any]:
    return load_policy(book.engine, name).to_json()


def _show_policy(policy: dict[str, Any]) -> None:
    actions = policy["actions"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row(
        "safety policy",
        ", ".join(f"{c}={a}" for c, a in actions.items()) + f"; default {policy['default']}",
    )
    grid.add_row("provider refusal", str(policy["on_provider_refusal"]))
    grid.add_row("output block", str(policy["on_output_block"]))
    out.print(grid)


def _show(tenant: Tenant) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    limits = tenant.limits()
    grid.add_row("tenant", tenant.name)
    grid.add_row("rate limit", limits["rate_limit"] or "none")
    grid.add_row("max concurrent", str(tenant.max_concurrent or "none"))
    grid.add_row("daily videos", str(tenant.daily_videos or "none"))
    grid.add_row(
        "deadline",
        f"{tenant.deadline_seconds:g} s" if tenant.deadline_seconds else "none (the default)",
    )
    grid.add_row("uncertain submit", tenant.uncertain_submit or "the gateway's default")
    grid.add_row("default priority", tenant.default_priority or "the gateway's default")
    grid.add_row(
        "strategies",
        ", ".join(f"{k}={v}" for k, v in (tenant.strategies or {}).items())
        or "the gateway's defaults",
    )
    grid.add_row("cache similarity", f"{tenant.cache_similarity or 'the gateway default'}")
    grid.add_row("webhook url", tenant.webhook_url or "none")
    grid.add_row("active keys", str(tenant.active_keys))
    out.print(grid)


@app.command("list")
@friendly
def list_tenants(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every tenant with its limits and number of active keys."""
    found = _book().tenants()
    if json_output:
        print_json([_row(t) for t in found])
        return
    table = Table(title="tenants")
    for column in ("tenant", "rate limit", "concurrent", "daily", "deadline", "keys"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            t.name,
            t.limits()["rate_limit"] or "-",
            str(t.max_concurrent or "-"),
            str(t.daily_videos or "-"),
            f"{t.deadline_seconds:g} s" if t.deadline_seconds else "-",
            str(t.active_keys),
        )
    out.print(table)


@app.command("show")
@friendly
def show(
    tenant: Annotated[str, typer.Argument(help="The tenant's name.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One tenant's limits."""
    book = _book()
    found = book.get_tenant(tenant)
    policy = _policy_row(book, tenant)
    if json_output:
        print_json({**_row(found), "safety_policy": policy})
    else:
        _show(found)
        _show_policy(policy)


@app.command("set")
@friendly
def set_limits(
    tenant: Annotated[str, typer.Argument(help="The tenant's name.")],
    rate_limit: RateOption = None,
    max_concurrent: ConcurrentOption = None,
    daily_videos: DailyOption = None,
    deadline: DeadlineOption = None,
    uncertain_submit: UncertainOption = None,
    default_priority: PriorityDefaultOption = None,
    strategy: StrategiesOption = None,
    safety: SafetyOption = None,
    cache_similarity: SimilarityOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change the limits named; the others stay as they are. 'none' clears a limit."""
    given = limit_flags(
        rate_limit, max_concurrent, daily_videos, deadline, uncertain_submit, cache_similarity
    )
    if default_priority is not None:
        cleared = default_priority.strip().lower() == "none"
        given["default_priority"] = None if cleared else default_priority.strip()
    given |= strategy_flags(strategy)
    if not given and not safety:
        raise InvalidRequest(
            "say which limit to change: --rate-limit, --max-concurrent, --daily-videos, "
            "--deadline, --uncertain-submit, --default-priority, --strategy, "
            "--cache-similarity (a value, or 'none' to clear it) or --safety"
        )
    policy_change = safety_flags(safety) if safety else None
    if policy_change is not None:
        SafetyPolicy.from_json(policy_change)  # refused before any limit changes
    book = _book()
    updated = book.set_limits(tenant, given) if given else book.get_tenant(tenant)
    if safety:
        store_policy(book.engine, tenant, policy_change)
    policy = _policy_row(book, tenant)
    if json_output:
        print_json({**_row(updated), "safety_policy": policy})
    else:
        _show(updated)
        _show_policy(policy)
