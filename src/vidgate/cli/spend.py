"""``vidgate spend``: what was really charged, from the ledger; ``--series`` over time."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .._clock import utcnow
from ..accounting import check_user, spend_report
from ..accounting.periods import zone
from ..exceptions import InvalidRequest
from ..insights import SpendSeries, spend_series
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
    by: Annotated[
        str,
        typer.Option(
            help="Group by provider, model, user, day or tenant (with --series: provider, "
            "model, user or template)."
        ),
    ] = "provider",
    series: Annotated[
        str | None,
        typer.Option(help="Over time instead: the last day, week or month, per bucket."),
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="With --series: hour or day buckets.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Money charged (settlements and adjustments in the ledger), grouped."""
    if series is not None or bucket is not None:
        if since is not None or user is not None:
            raise InvalidRequest("--series covers a window ending now: no --since or --user")
        found = spend_series(
            _tenant_book().engine,
            by=by,
            window=series or "day",
            bucket=bucket,
            now=utcnow(),
            tenant=tenant,
        )
        if json_output:
            print_json(found.to_dict())
        else:
            _print_series(found)
        return
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


def _print_series(found: SpendSeries) -> None:
    window = found.window
    table = Table(
        title=f"spend by {found.by}, last {window.name} in {window.bucket}s ({window.timezone})"
    )
    table.add_column(window.bucket or "bucket")
    for line in found.series:
        table.add_column(line.key)
    table.add_column("total")
    fmt = "%Y-%m-%d %H:%M" if window.bucket == "hour" else "%Y-%m-%d"
    tz = zone(window.timezone)
    for i, start in enumerate(window.buckets):
        values = [line.usd[i] for line in found.series]
        table.add_row(
            start.astimezone(tz).strftime(fmt),
            *(f"${v:.4f}" for v in values),
            f"${sum(values):.4f}",
        )
    out.print(table)
    month = found.month
    out.print(
        f"month to date ({month.start:%Y-%m}, {month.timezone}): ${month.usd:.4f}, "
        f"projected ${month.projected_usd:.2f}"
    )
    for what, lines in (("users", found.top_users), ("templates", found.top_templates)):
        listed = ", ".join(f"{x.key} ${x.usd:.4f}" for x in lines) or "-"
        out.print(f"top {what}: {listed}")
