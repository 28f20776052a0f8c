"""``vidgate jobs``: list and inspect jobs (attempts, history, provider calls)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..engine import Engine
from ..settings import Settings
from ..types import Asset, Job, JobStatus, Phase
from ._console import friendly, out, print_json

app = typer.Typer(help="List and inspect jobs.", no_args_is_help=True)

_STATUS_STYLE = {
    JobStatus.QUEUED: "dim",
    JobStatus.IN_PROGRESS: "cyan",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
}


def _engine() -> Engine:
    return Engine(Settings())


def _close(engine: Engine) -> None:
    asyncio.run(engine.close())


@app.command("list")
@friendly
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The most recent jobs, newest first."""
    engine = _engine()
    try:
        found = engine.list_jobs(status=status, limit=limit)
    finally:
        _close(engine)
    if json_output:
        print_json(found)
        return
    table = Table(title="vidgate jobs")
    columns = ("id", "status", "phase", "priority", "progress", "model", "request", "cost")
    for column in (*columns, "created"):
        table.add_column(column, overflow="fold")
    for job in found:
        table.add_row(
            job.id,
            f"[{_STATUS_STYLE[job.status]}]{job.status.value}[/]",
            _phase(job),
            job.request.priority.value if job.request.priority else "-",
            f"{job.progress:.0f}%",
            f"{job.provider}:{job.model}" if job.provider else "-",
            f"{job.request.duration:g}s {job.request.aspect_ratio} {job.request.resolution}",
            f"${job.cost_usd:.2f}" if job.cost_usd is not None else "-",
            job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)


@app.command("show")
@friendly
def show(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One job in full: request, attempts, history and its provider calls (status polls: the
    ones that showed a new state)."""
    engine = _engine()
    try:
        job = engine.get(job_id)
        events = engine.events(job_id)
        calls = engine.calls(job_id)
    finally:
        _close(engine)
    if json_output:
        body = job.model_dump(mode="json")
        body["events"] = [e.model_dump(mode="json") for e in events]
        body["request_log"] = [c.model_dump(mode="json") for c in calls]
        print_json(body)
        return
    _print_job(job)
    _print_ranking(job)
    if job.phase is Phase.PROVIDER_LIMIT and events:
        out.print(f"[yellow]waiting:[/] {escape(events[-1].message)}")
    history = Table(title="history")
    for column in ("at", "phase", "progress", "message"):
        history.add_column(column, overflow="fold")
    for event in events:
        history.add_row(
            event.at.strftime("%H:%M:%S.%f")[:-3],
            event.phase.value,
            f"{event.progress:.0f}%",
            escape(event.message),
        )
    out.print(history)
    log = Table(title="provider calls")
    for column in ("at", "provider", "method", "url", "status", "ms", "request id"):
        log.add_column(column, overflow="fold")
    for call in calls:
        log.add_row(
            call.at.strftime("%H:%M:%S.%f")[:-3],
            call.provider,
            call.method,
            escape(call.url),
            escape(str(call.status_code or call.error or "-")),
            f"{call.latency_ms:.0f}",
            call.request_id or "-",
        )
    out.print(log)


@app.command("cancel")
@friendly
def cancel(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cancel a job: its workflow stops and the provider task is cancelled where possible."""
    engine = _engine()

    async def go() -> Job:
        try:
            return await engine.cancel(job_id)
        finally:
            await engine.close()

    job = asyncio.run(go())
    if json_output:
        print_json(job)
        return
    if job.status is JobStatus.CANCELED:
        out.print(f"job {job.id} canceled")
    else:
        out.print(f"job {job.id} had already ended: {job.status.value}")


def _phase(job: Job) -> str:
    """The phase; a scheduled job's with when it is released."""
    if job.phase is Phase.SCHEDULED and job.not_before is not None:
        return f"scheduled until {job.not_before:%Y-%m-%d %H:%M} UTC"
    return job.phase.value


def _print_ranking(job: Job) -> None:
    """The priority, the strategy (and where it came from), and why each candidate is where
    it is."""
    routing = job.routing or {}
    ranking = [r for r in routing.get("ranking") or () if isinstance(r, dict)]
    if not routing.get("strategy"):
        return
    title = f"ranking: {routing.get('strategy_from') or routing['strategy']}"
    table = Table(title=escape(title))
    for column in ("#", "model", "usd", "why"):
        table.add_column(column, overflow="fold")
    for row in ranking:
        usd = row.get("usd")
        table.add_row(
            str(row.get("rank", "")),
            escape(str(row.get("model", ""))),
            f"${usd:.2f}" if isinstance(usd, int | float) else "-",
            escape(str(row.get("why", ""))),
        )
    out.print(table)


def _print_job(job: Job) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("job", job.id)
    grid.add_row(
        "status", f"[{_STATUS_STYLE[job.status]}]{job.status.value}[/] ({job.phase.value})"
    )
    grid.add_row("progress", f"{job.progress:.0f}%")
    _admission_rows(grid, job)
    _outcome_rows(grid, job)
    _scan_row(grid, job)
    out.print(grid)
    if job.attempts:
        _print_attempts(job)


def _admission_rows(grid: Table, job: Job) -> None:
    """What was asked and what admission decided: priority, prompt, hints, moderation."""
    if job.request.priority is not None:
        grid.add_row("priority", job.request.priority.value)
    if job.not_before is not None:
        grid.add_row("not before", f"{job.not_before:%Y-%m-%d %H:%M:%S} UTC")
    grid.add_row("prompt", escape(job.request.prompt))
    if job.request.template:
        grid.add_row("template", escape(job.request.template))
    for hint in job.hints:
        grid.add_row(escape(f"hint [{hint.code}]"), escape(hint.message))
    if job.moderation is not None:
        mark = job.moderation
        said = mark.action + (f" ({', '.join(mark.categories)})" if mark.categories else "")
        if mark.unchecked:
            said += f"; not checked: {', '.join(mark.unchecked)}"
        grid.add_row("moderation", escape(f"{said} by {', '.join(mark.moderators) or '-'}"))
    for a in job.attempts:
        if a.prompt_sent is not None and a.prompt_sent.prompt != job.request.prompt:
            grid.add_row(f"sent (#{a.number})", escape(a.prompt_sent.prompt))


def _outcome_rows(grid: Table, job: Job) -> None:
    """What was run and what came of it: model, quote and cost, output, error."""
    grid.add_row(
        "asked",
        f"{job.request.duration:g} s, {job.request.aspect_ratio}, {job.request.resolution}",
    )
    grid.add_row("model", f"{job.provider}:{job.model}" if job.provider else "-")
    if job.quote is not None:
        grid.add_row("quote", f"${job.quote.usd:.2f} ({job.quote.basis})")
    if job.cost_usd is not None:
        grid.add_row("cost", f"${job.cost_usd:.2f}")
    if job.cached is not None:
        how: str = job.cached.match
        if job.cached.similarity is not None:
            how += f", {job.cached.similarity:.3f} similar to {job.cached.prompt!r}"
        grid.add_row("cached", escape(f"from job {job.cached.job_id} ({how})"))
    if job.output is not None:
        grid.add_row("output", job.output.uri)
        if job.output.media is not None:
            m = job.output.media
            grid.add_row(
                "media",
                f"{m.width}x{m.height}, {m.duration:.2f} s, {m.fps or 0:g} fps, "
                f"{m.video_codec}, {m.size_bytes / 1e6:.2f} MB",
            )
    delivered = [a for a in job.assets if a.facts is not None]
    if delivered:
        grid.add_row("delivered", escape(", ".join(_asset_line(a) for a in delivered)))
    if job.error is not None:
        grid.add_row(
            "error", f"[red]{escape(f'[{job.error.code}]')}[/] {escape(job.error.message)}"
        )


def _print_attempts(job: Job) -> None:
    table = Table(title="attempts")
    for column in ("#", "provider", "model", "remote id", "status", "outcome", "error"):
        table.add_column(column, overflow="fold")
    for a in job.attempts:
        table.add_row(
            str(a.number),
            a.provider,
            a.model,
            a.remote_id or "-",
            a.status.value,
            a.outcome.value if a.outcome else "-",
            escape(a.error.message if a.error else "")
            + (
                f" [yellow](possible orphan, about ${a.orphan_cost_usd or 0:.2f})[/]"
                if a.possible_orphan
                else ""
            ),
        )
    out.print(table)


def _scan_row(grid: Table, job: Job) -> None:
    """The content scan in one line: verdict, categories with top scores, frames."""
    scan = job.scan
    if scan is None:
        return
    parts = [f"{scan.verdict} (attempt {scan.attempt})"]
    if scan.categories:
        parts.append(", ".join(f"{c} {scan.scores.get(c, 0.0):.2f}" for c in scan.categories))
    if scan.frames:
        parts.append("frames " + ", ".join(f"{f.index}@{f.time:.2f}s" for f in scan.frames[:8]))
    if scan.quarantine_id:
        parts.append(f"quarantine {scan.quarantine_id}" + (" (released)" if scan.released else ""))
    grid.add_row("scan", escape("; ".join(parts)))


def _asset_line(asset: Asset) -> str:
    """``480p 854x480 h264 0.41 MB``: a delivered variant in a few words."""
    facts = asset.facts
    assert facts is not None
    size = f" {facts.width}x{facts.height}" if facts.width and facts.height else ""
    how = " (remux)" if facts.remuxed else ""
    return f"{asset.kind}{size} {facts.codec} {facts.bytes / 1e6:.2f} MB{how}"
