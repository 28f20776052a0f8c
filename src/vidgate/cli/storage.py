"""``vidgate storage``: what stored media costs each tenant, and the retention sweep.

- ``usage``: bytes and objects per tenant and asset kind (held quarantine files apart);
- ``sweep [--dry-run]``: apply every tenant's retention policy now (one process does it
  every ``VIDGATE_RETENTION_INTERVAL`` seconds);
- ``policy TENANT [--originals-days N] [--renditions-days N] [--quarantine-days N] [--clear]``:
  show or set a tenant's own policy over the operator's default
  (``VIDGATE_RETENTION_ORIGINALS_DAYS`` and the others).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from ..engine import Engine
from ..settings import Settings
from ..storage.select import storage_name
from ._console import friendly, out, print_json

app = typer.Typer(
    help="Stored media: usage per tenant, and the retention sweep.", no_args_is_help=True
)

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _with_engine(action: Callable[[Engine], T]) -> T:
    engine = Engine(Settings())

    async def go() -> T:
        try:
            return await asyncio.to_thread(action, engine)
        finally:
            await engine.close()

    return asyncio.run(go())


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(count)


@app.command("usage")
@friendly
def usage(json_output: JsonOption = False) -> None:
    """Bytes kept in storage per tenant and kind of file."""
    rows = _with_engine(lambda engine: engine.storage_usage())
    if json_output:
        print_json({"storage": storage_name(Settings()), "usage": [r.as_dict() for r in rows]})
        return
    table = Table("tenant", "kind", "objects", "bytes", "size", title=storage_name(Settings()))
    for row in rows:
        table.add_row(row.tenant, row.kind, str(row.objects), str(row.bytes), _size(row.bytes))
    total = sum(r.bytes for r in rows)
    table.add_row("all", "", str(sum(r.objects for r in rows)), str(total), _size(total))
    out.print(table)


@app.command("sweep")
@friendly
def sweep(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete the files every tenant's retention policy has expired."""
    report = _with_engine(lambda engine: engine.sweep_storage(dry_run=dry_run))
    if json_output:
        print_json(report.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for item in report.assets:
        out.print(f"{verb} {item['kind']} of {item['job_id']} ({item['tenant']}, {item['class']})")
    for item in report.quarantined:
        out.print(f"{verb} quarantined {item['id']} of {item['job_id']} ({item['tenant']})")
    count = len(report.assets) + len(report.quarantined)
    out.print(
        f"{count} expired file(s); {_size(report.bytes_freed)} "
        f"{'to free' if dry_run else 'freed'}"
        + ("" if dry_run else f", {report.objects_deleted} object(s) deleted")
        + (f", {report.objects_kept_shared} kept (shared)" if report.objects_kept_shared else "")
        + (
            f", {report.stale_uploads_aborted} stale upload(s) aborted"
            if report.stale_uploads_aborted
            else ""
        )
    )
    for problem in report.errors:
        out.print(f"[red]error:[/] {problem}")
    if report.errors:
        raise typer.Exit(1)


@app.command("policy")
@friendly
def policy(
    tenant: Annotated[str, typer.Argument(help="The tenant.")],
    originals_days: Annotated[float | None, typer.Option(min=0.001)] = None,
    renditions_days: Annotated[float | None, typer.Option(min=0.001)] = None,
    quarantine_days: Annotated[float | None, typer.Option(min=0.001)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the operator's default.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Show, or set, a tenant's retention policy (days; unset keys follow the settings)."""
    given: dict[str, Any] = {
        k: v
        for k, v in {
            "originals_days": originals_days,
            "renditions_days": renditions_days,
            "quarantine_days": quarantine_days,
        }.items()
        if v is not None
    }

    def act(engine: Engine) -> Any:
        if clear:
            return engine.set_retention_policy(tenant, None)
        if given:
            return engine.set_retention_policy(tenant, given)
        return engine.retention_policy(tenant)

    found = _with_engine(act)
    if json_output:
        print_json({"tenant": tenant, **found.as_dict()})
        return
    for key, value in found.as_dict().items():
        out.print(f"{key}: {'keep' if value is None else f'{value:g}'}")
