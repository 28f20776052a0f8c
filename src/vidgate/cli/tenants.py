"""``vidgate tenants``: the gateway's tenants and their limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ..exceptions import InvalidRequest
from ..server.tenancy import Tenant
from ._console import friendly, out, print_json
from ._tenancy import (
    ConcurrentOption,
    DailyOption,
    DeadlineOption,
    RateOption,
    SimilarityOption,
    UncertainOption,
    limit_flags,
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
    found = _book().get_tenant(tenant)
    if json_output:
        print_json(_row(found))
    else:
        _show(found)


@app.command("set")
@friendly
def set_limits(
    tenant: Annotated[str, typer.Argument(help="The tenant's name.")],
    rate_limit: RateOption = None,
    max_concurrent: ConcurrentOption = None,
    daily_videos: DailyOption = None,
    deadline: DeadlineOption = None,
    uncertain_submit: UncertainOption = None,
    cache_similarity: SimilarityOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change the limits named; the others stay as they are. 'none' clears a limit."""
    given = limit_flags(
        rate_limit, max_concurrent, daily_videos, deadline, uncertain_submit, cache_similarity
    )
    if not given:
        raise InvalidRequest(
            "say which limit to change: --rate-limit, --max-concurrent, --daily-videos, "
            "--deadline, --uncertain-submit or --cache-similarity (a value, or 'none' to clear it)"
        )
    updated = _book().set_limits(tenant, given)
    if json_output:
        print_json(_row(updated))
    else:
        _show(updated)
