"""``vidgate estimate``: what a request would run on and cost, and the prompt linter's hints —
nothing is submitted."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..engine import Engine
from ..types import VideoRequest
from ._console import friendly, out, print_json
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


@friendly
def estimate(
    prompt: Annotated[
        str | None,
        typer.Argument(help="What the video shows (the subject, with --camera and the like)."),
    ] = None,
    duration: Annotated[float | None, typer.Option("--duration", "-d", help="Seconds.")] = None,
    aspect: Annotated[str | None, typer.Option("--aspect", "-a", help="W:H, e.g. 16:9.")] = None,
    resolution: Annotated[str | None, typer.Option(help="480p, 720p, 1080p, 4k.")] = None,
    negative: Annotated[str | None, typer.Option(help="What to avoid (negative prompt).")] = None,
    audio: Annotated[bool | None, typer.Option("--audio/--no-audio")] = None,
    image: Annotated[str | None, typer.Option(help="First frame: a path or URL.")] = None,
    provider: Annotated[str | None, typer.Option(help="Use this provider.")] = None,
    model: Annotated[str | None, typer.Option(help="Use this model: PROVIDER:MODEL.")] = None,
    subject: Subject = None,
    action: Action = None,
    camera: Camera = None,
    lighting: Lighting = None,
    atmosphere: Atmosphere = None,
    style: Style = None,
    template: TemplateName = None,
    var: Vars = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Quote a request and lint its prompt: the model that would serve it, the price, the
    alternatives, and hints to write it better."""
    given: dict[str, Any] = {
        "duration": duration,
        "aspect_ratio": aspect,
        "resolution": resolution,
        "audio": audio,
        "image": image,
        "model": model,
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
    )
    engine = Engine()
    try:
        resolved, plan = engine.resolve(request)
        hints = engine.hints(resolved, plan)
    finally:
        asyncio.run(engine.close())
    first = plan.first
    report: dict[str, Any] = {
        "model": first.ref,
        "duration": resolved.duration,
        "quote": first.quote.model_dump(mode="json") if first.quote else None,
        "alternatives": [c.ref for c in plan.candidates[1:]],
        "not_used": plan.skipped,
        "notice": plan.notice,
        "prompt": resolved.prompt,
        "template": resolved.template,
        "variables": resolved.variables,
        "hints": [h.model_dump(mode="json") for h in hints],
    }
    if json_output:
        print_json(report)
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("model", first.ref)
    table.add_row("duration", f"{resolved.duration:g} s")
    table.add_row("price", f"${first.quote.usd:.2f} ({first.quote.basis})" if first.quote else "?")
    if resolved.template:
        table.add_row("template", resolved.template)
    table.add_row("prompt", escape(resolved.prompt))
    if plan.candidates[1:]:
        table.add_row("fallbacks", ", ".join(c.ref for c in plan.candidates[1:]))
    for hint in hints:
        table.add_row(escape(f"hint [{hint.code}]"), escape(hint.message))
    if plan.notice:
        table.add_row("note", escape(plan.notice))
    out.print(table)
