"""``vidgate spend``: what was really charged, from the ledger."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..accounting import check_user, spend_report
from ..server.spend import parse_since
from ._console import friendly, out, print_json
from ._tenancy import book as _tenant_book


@friendly
def spend(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this end user.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this date (2026-12-01, UTC) or ISO time.")
    ] = None,
    by: Annotated[str, typer.Option(help="Group by provider, model, user, day or tenant.")] = (
        "provider"
    ),
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Money charged (settlements and adjustments in the ledger), grouped."""
    lines = spend_report(
        _tenant_book().engine,
        by=by,
        tenant=tenant,
        user=check_user(user) if user else None,
        since=parse_since(since),
    )
    total = sum(line.usd for line in lines)
    if json_output:
        print_json({"by": by, "total_usd": round(total, 6), "data": [x.to_dict(by) for x in lines]})
        return
    table = Table(title=f"spend by {by}")
    for column in (by, "usd", "jobs"):
        table.add_column(column)
    for line in lines:
        table.add_row(line.key, f"${line.usd:.4f}", str(line.jobs))
    table.add_row("total", f"${total:.4f}", str(sum(line.jobs for line in lines)))
    out.print(table)
