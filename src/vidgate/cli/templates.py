"""``vidgate templates``: the prompt template library — list, show, render."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..engine import Engine
from ..prompts.templates import Template
from ..types import VideoRequest
from ._console import friendly, out, print_json
from ._prompting import Vars, parse_vars

__all__ = ["app"]

app = typer.Typer(help="Prompt templates: built-in, the operator's, and versions.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _with_engine() -> Engine:
    return Engine()


@app.command("list")
@friendly
def list_templates(json_output: JsonFlag = False) -> None:
    """Every template's newest version (vidgate templates show NAME for all of them)."""
    engine = _with_engine()
    try:
        found = engine.templates.latest("default")
    finally:
        asyncio.run(engine.close())
    if json_output:
        print_json(found)
        return
    table = Table("template", "title", "variables", "source")
    for template in found:
        table.add_row(
            template.ref,
            escape(template.title),
            ", ".join(template.variables),
            template.source,
        )
    out.print(table)


@app.command("show")
@friendly
def show(
    name: Annotated[str, typer.Argument(help="NAME (its newest version) or NAME@VERSION.")],
    json_output: JsonFlag = False,
) -> None:
    """A template: its variables, prompt, parameters, overrides and versions."""
    engine = _with_engine()
    try:
        template = engine.templates.get(name, "default")
        versions = [t.version for t in engine.templates.all("default", template.name)]
    finally:
        asyncio.run(engine.close())
    if json_output:
        print_json({**template.model_dump(mode="json"), "versions": versions})
        return
    _describe(template, versions)


def _describe(template: Template, versions: list[int]) -> None:
    out.print(f"[bold]{template.ref}[/] {escape(template.title)} ({template.source})")
    if template.description:
        out.print(escape(template.description))
    out.print(f"versions: {', '.join(str(v) for v in versions)}")
    table = Table("variable", "type", "default", "description")
    for name, variable in template.variables.items():
        kind = str(variable.type)
        if variable.choices:
            kind += f" ({' | '.join(variable.choices)})"
        default = "required" if variable.default is None else str(variable.default)
        table.add_row(name, escape(kind), escape(default), escape(variable.description))
    out.print(table)
    for field, text in template.prompt.model_dump().items():
        if text:
            out.print(f"  {field}: {escape(text)}")
    parameters = template.parameters.model_dump(exclude_none=True)
    if parameters:
        out.print("parameters: " + ", ".join(f"{k}={v}" for k, v in parameters.items()))
    for provider in template.overrides:
        out.print(f"override for {provider}")


@app.command("render")
@friendly
def render(
    name: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    var: Vars = None,
    json_output: JsonFlag = False,
) -> None:
    """The prompt and parameters a template makes with these variables (nothing is run)."""
    request = VideoRequest(template=name, variables=parse_vars(var))
    engine = _with_engine()
    try:
        resolved, _ = engine.resolve(request)
    finally:
        asyncio.run(engine.close())
    fields = {
        "template",
        "variables",
        "prompt",
        "prompt_parts",
        "negative_prompt",
        "prompt_overrides",
        "duration",
        "aspect_ratio",
        "resolution",
        "audio",
    }
    if json_output:
        print_json(resolved.model_dump(mode="json", include=fields))
        return
    out.print(f"[bold]{resolved.template}[/]")
    out.print(escape(resolved.prompt))
    if resolved.negative_prompt:
        out.print(f"negative: {escape(resolved.negative_prompt)}")
    out.print(
        f"{resolved.duration:g} s, {resolved.aspect_ratio}, {resolved.resolution}"
        + ("" if resolved.audio is None else f", audio {'on' if resolved.audio else 'off'}")
    )
