"""``vidgate stats providers``: per provider and model over the last hour, day or week."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .._clock import utcnow
from ..insights import provider_stats
from ._console import friendly, out, print_json
from ._tenancy import book as _tenant_book

app = typer.Typer(help="Windowed figures: providers and models.", no_args_is_help=True)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


@app.command("providers")
@friendly
def providers(
    window: Annotated[str, typer.Option(help="hour, day or week (ending now).")] = "day",
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Attempts, success rate, generation time p50/p95 and the commonest error codes, per
    provider and model."""
    stats = provider_stats(_tenant_book().engine, window, now=utcnow(), tenant=tenant)
    if json_output:
        print_json(stats.to_dict())
        return
    table = Table(title=f"providers, last {stats.window.name}")
    for column in ("provider", "model", "attempts", "success", "p50", "p95", "top errors"):
        table.add_column(column)
    for row in stats.models:
        rate = "-" if row.success_rate is None else f"{row.success_rate:.0%}"
        codes = ", ".join(f"{code} x{count}" for code, count in row.errors[:3]) or "-"
        table.add_row(
            row.provider,
            row.model or "",
            str(row.attempts),
            rate,
            _seconds(row.p50_seconds),
            _seconds(row.p95_seconds),
            codes,
        )
    out.print(table)
