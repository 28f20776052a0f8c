"""``vidgate estimate``: what a request would run on and cost on every model, and the prompt
linter's hints — nothing is submitted, nothing is spent."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..accounting.estimates import estimate_models, project
from ..engine import Engine
from ..exceptions import InvalidRequest
from ..ranking import summary
from ..types import VideoRequest
from ._caching import CacheOption, NoCacheOption, cache_mode
from ._console import err, friendly, out, print_json
from ._priority import PriorityOption, StrategyOption
from ._prompting import (
    Action,
    Atmosphere,
    Camera,
    Lighting,
    Style,
    Subject,
    TemplateName,
    Vars,
    prompt_fields,
)

__all__ = ["estimate"]


class Per(StrEnum):
    DAY = "day"
    MONTH = "month"


@friendly
def estimate(
    prompt: Annotated[
        str | None,
        typer.Argument(help="What the video shows (the subject, with --camera and the like)."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            "-d",
            help="Seconds (default: the shortest the model offers at or above 5 s).",
        ),
    ] = None,
    aspect: Annotated[str | None, typer.Option("--aspect", "-a", help="W:H, e.g. 16:9.")] = None,
    resolution: Annotated[str | None, typer.Option(help="480p, 720p, 1080p, 4k.")] = None,
    fps: Annotated[int | None, typer.Option(help="Frames per second (model default).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed, where the model takes one.")] = None,
    negative: Annotated[str | None, typer.Option(help="What to avoid (negative prompt).")] = None,
    audio: Annotated[
        bool | None, typer.Option("--audio/--no-audio", help="With or without sound.")
    ] = None,
    image: Annotated[str | None, typer.Option(help="First frame: a path or URL.")] = None,
    last_frame: Annotated[str | None, typer.Option(help="Last frame: a path or URL.")] = None,
    provider: Annotated[str | None, typer.Option(help="Use this provider.")] = None,
    model: Annotated[str | None, typer.Option(help="Use this model: PROVIDER:MODEL.")] = None,
    priority: PriorityOption = None,
    strategy: StrategyOption = None,
    subject: Subject = None,
    action: Action = None,
    camera: Camera = None,
    lighting: Lighting = None,
    atmosphere: Atmosphere = None,
    style: Style = None,
    template: TemplateName = None,
    var: Vars = None,
    count: Annotated[
        int | None, typer.Option(help="Project the spend of this many such videos …", min=0)
    ] = None,
    per: Annotated[Per, typer.Option(help="… per day or per month.")] = Per.DAY,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The price of a request on every capable model (with its basis and how sure the price
    is), which one `generate` would use, why the others cannot serve it, and hints to write
    the prompt better. Nothing is spent."""
    given: dict[str, Any] = {
        "duration": duration,
        "aspect_ratio": aspect,
        "resolution": resolution,
        "fps": fps,
        "seed": seed,
        "audio": audio,
        "image": image,
        "last_frame": last_frame,
        "model": model,
        "priority": priority,
        "strategy": strategy,
    }
    request = VideoRequest(
        **prompt_fields(
            prompt,
            negative=negative,
            subject=subject,
            action=action,
            camera=camera,
            lighting=lighting,
            atmosphere=atmosphere,
            style=style,
            template=template,
            variables=var,
        ),
        **{k: v for k, v in given.items() if v is not None},
        providers=(provider,) if provider else (),
        cache=cache_mode(cache, no_cache),
    )
    engine = Engine()
    try:
        resolved, plan = engine.resolve(request)  # what create would do with this request
        hints = engine.hints(resolved, plan)
        rows = estimate_models(resolved, plan, engine.catalog)
        hit = engine.cached(resolved, plan)  # create would serve it from this job's video
    finally:
        asyncio.run(engine.close())
    first = plan.first
    if count is not None and first.quote is None:
        raise InvalidRequest(f"{first.ref} has no price for this request: nothing to project")
    projection = (
        project(first.quote.usd, count, per.value) if count is not None and first.quote else None
    )
    if json_output:
        print_json(
            {
                "model": first.ref,
                "duration": resolved.duration,
                "quote": first.quote.model_dump(mode="json") if first.quote else None,
                "alternatives": [c.ref for c in plan.candidates[1:]],
                "not_used": plan.skipped,
                **summary(plan),
                "notice": plan.notice,
                "prompt": resolved.prompt,
                "template": resolved.template,
                "variables": resolved.variables,
                "hints": [h.model_dump(mode="json") for h in hints],
                "estimates": [r.as_dict() for r in rows],
                "projection": projection.as_dict() if projection else None,
                "cache": {"hit": True, "usd": 0.0, "cached_from": hit.job_id, **hit.model_dump()}
                if hit
                else None,
            }
        )
        return
    if plan.notice:
        err.print(f"[yellow]note:[/] {escape(plan.notice)}")
    if plan.strategy:
        err.print(f"strategy: {escape(plan.strategy_from or plan.strategy)}")
    if hit is not None:
        out.print(
            f"[green]cache hit:[/] generate would serve the video of job {hit.job_id} "
            f"({hit.match} match) at $0.00; --no-cache generates anew"
        )
    table = Table(title=f"estimate: {resolved.duration:g} s at {resolved.resolution}")
    for column in ("model", "usd", "price", "status", "why (not)"):
        table.add_column(column, overflow="fold")
    for row in rows:
        name = f"[bold]{row.model}[/] (chosen)" if row.chosen else row.model
        usd = f"${row.usd:.2f}" if row.usd is not None else "-"
        status = row.status or "-"
        if status not in ("confirmed", "-"):
            status = f"[yellow]{status}[/]"
        why = row.reason or plan.reasons.get(row.model, "")
        table.add_row(name, usd, escape(row.how or ""), status, escape(why))
    out.print(table)
    if projection is not None:
        out.print(
            f"{projection.count} per {projection.per} on {first.ref} at "
            f"${projection.usd_each:.2f} each: ${projection.usd_per_day:,.2f} a day, "
            f"${projection.usd_per_month:,.2f} a month (30 days)"
        )
    details = Table.grid(padding=(0, 2))
    details.add_column(style="bold")
    details.add_column(overflow="fold")
    if resolved.template:
        details.add_row("template", resolved.template)
    details.add_row("prompt", escape(resolved.prompt))
    for hint in hints:
        details.add_row(escape(f"hint [{hint.code}]"), escape(hint.message))
    out.print(details)
