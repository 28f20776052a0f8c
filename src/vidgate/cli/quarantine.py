"""``vidgate quarantine``: outputs the content scan blocked — list, show, release, delete."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from ..engine import Engine
from ..engine.quarantine import QuarantineDesk
from ..safety.quarantine import QuarantineItem
from ..settings import Settings
from ._console import friendly, out, print_json

app = typer.Typer(help="Outputs held by the content scan.", no_args_is_help=True)

T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArgument = Annotated[str, typer.Argument(help="The quarantine id (q_…).")]


def _run(action: Callable[[QuarantineDesk], Awaitable[T]]) -> T:
    engine = Engine(Settings())

    async def go() -> T:
        try:
            return await action(engine.quarantine)
        finally:
            await engine.close()

    return asyncio.run(go())


def _run_engine(action: Callable[[Engine], Awaitable[T]]) -> T:
    engine = Engine(Settings())

    async def go() -> T:
        try:
            return await action(engine)
        finally:
            await engine.close()

    return asyncio.run(go())


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _summary(item: QuarantineItem) -> str:
    scores = ", ".join(f"{c} {item.scan.scores.get(c, 0.0):.2f}" for c in item.scan.categories)
    return scores or "-"


@app.command("list")
@friendly
def list_items(
    status: Annotated[str, typer.Option(help="held, released, deleted or all.")] = "held",
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json_output: JsonOption = False,
) -> None:
    """Quarantined outputs, newest first."""
    if status not in ("held", "released", "deleted", "all"):
        raise typer.BadParameter("held, released, deleted or all", param_hint="--status")
    found = _run(
        lambda desk: desk.list(
            status=None if status == "all" else status,  # type: ignore[arg-type]
            tenant=tenant,
            limit=limit,
        )
    )
    if json_output:
        print_json(found)
        return
    table = Table(title=f"quarantine ({status})")
    for column in ("id", "job", "tenant", "attempt", "status", "categories", "held at"):
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(
            item.id,
            item.job_id,
            escape(item.tenant),
            f"{item.attempt_number} {item.provider}:{item.model}",
            item.status,
            escape(_summary(item)),
            item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)


def _print(item: QuarantineItem) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("id", item.id)
    grid.add_row("status", item.status)
    grid.add_row("job", f"{item.job_id} (tenant {escape(item.tenant)})")
    grid.add_row("attempt", f"{item.attempt_number} on {item.provider}:{item.model}")
    grid.add_row("held at", f"{item.video_key} ({(item.size_bytes or 0) / 1e6:.2f} MB)")
    grid.add_row("categories", escape(_summary(item)))
    frames = ", ".join(f"{f.index}@{f.time:.2f}s" for f in item.scan.frames)
    grid.add_row("frames", frames or "-")
    for finding in item.scan.findings:
        if finding.get("flagged"):
            grid.add_row(
                escape(str(finding.get("source"))),
                escape(
                    f"{finding.get('category')} {finding.get('score')}: "
                    f"{finding.get('detail') or ''}"
                ),
            )
    if item.resolved_at is not None:
        grid.add_row(item.status, f"{item.resolved_at:%Y-%m-%d %H:%M:%S} by {item.resolved_by}")
    out.print(grid)


@app.command("show")
@friendly
def show(item_id: IdArgument, json_output: JsonOption = False) -> None:
    """One quarantined output: its job, attempt, scan findings and frames."""
    item = _run(lambda desk: desk.get(item_id))
    if json_output:
        print_json(item)
        return
    _print(item)


@app.command("release")
@friendly
def release(
    item_id: IdArgument,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Run the release here and wait until the video is served (the default), or "
            "leave it to a worker.",
        ),
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Release a held output: it becomes the job's video and is served (audited)."""

    async def go(engine: Engine) -> QuarantineItem:
        if wait:
            await engine.start()  # this process takes the release off its queue itself
        item = await engine.quarantine.release(item_id, by=_who())
        if wait:
            if not json_output:
                out.print(f"released {item.id}: delivering job {item.job_id}'s video…")
            await engine.quarantine.wait_released(item.job_id)
        return item

    item = _run_engine(go)
    if json_output:
        print_json(item)
    elif wait:
        out.print(f"released {item.id}: job {item.job_id} serves it now")
    else:
        out.print(f"released {item.id}: a worker delivers job {item.job_id}'s video")


@app.command("delete")
@friendly
def delete(item_id: IdArgument, json_output: JsonOption = False) -> None:
    """Delete a held output's files (audited); the job stays unservable."""
    item = _run(lambda desk: desk.delete(item_id, by=_who()))
    if json_output:
        print_json(item)
        return
    out.print(f"deleted {item.id} (job {item.job_id})")
