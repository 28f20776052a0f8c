"""What ``generate`` and ``estimate`` share: the prompt options, and the request fields they
make (a text prompt, a structured one, or a template call)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from ..exceptions import InvalidRequest
from ..types import PromptHint
from ._console import err

__all__ = [
    "Action",
    "Atmosphere",
    "Camera",
    "Lighting",
    "Style",
    "Subject",
    "TemplateName",
    "Vars",
    "parse_vars",
    "prompt_fields",
    "show_hints",
]

Subject = Annotated[
    str | None, typer.Option(help="Who or what the video shows (default: the PROMPT argument).")
]
Action = Annotated[str | None, typer.Option(help="What the subject does.")]
Camera = Annotated[str | None, typer.Option(help="Camera movement and framing.")]
Lighting = Annotated[str | None, typer.Option(help="The light.")]
Atmosphere = Annotated[str | None, typer.Option(help="The mood.")]
Style = Annotated[
    str | None, typer.Option(help="cinematic, documentary, anime, product, … (the look).")
]
TemplateName = Annotated[
    str | None, typer.Option("--template", "-t", help="A template: NAME or NAME@VERSION.")
]
Vars = Annotated[
    list[str] | None,
    typer.Option("--var", help="A template variable, NAME=VALUE (repeat for each)."),
]


def parse_vars(pairs: list[str] | None) -> dict[str, str]:
    """``["product=a red mug", …]`` → ``{"product": "a red mug", …}``."""
    values: dict[str, str] = {}
    for pair in pairs or ():
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise InvalidRequest(f"--var takes NAME=VALUE, not {pair[:80]!r}")
        values[name.strip()] = value
    return values


def prompt_fields(
    prompt: str | None,
    *,
    negative: str | None,
    subject: str | None = None,
    action: str | None = None,
    camera: str | None = None,
    lighting: str | None = None,
    atmosphere: str | None = None,
    style: str | None = None,
    template: str | None = None,
    variables: list[str] | None = None,
) -> dict[str, Any]:
    """The request fields: with any part given (``--camera``, …) the prompt is structured and
    the PROMPT argument is its subject; with only PROMPT it is plain text."""
    parts = {
        "action": action,
        "camera": camera,
        "lighting": lighting,
        "atmosphere": atmosphere,
        "style": style,
    }
    given = {k: v for k, v in parts.items() if v}
    if subject and prompt:
        raise InvalidRequest("give the subject once: as the PROMPT argument or as --subject")
    subject = subject or prompt
    fields: dict[str, Any] = {"negative_prompt": negative}
    if given or (subject and subject is not prompt):
        fields["prompt"] = {"subject": subject or "", **given}
    elif prompt:
        fields["prompt"] = prompt
    elif template is None:
        raise InvalidRequest(
            "say what the video shows: a PROMPT, --subject/--action, or --template"
        )
    if template is not None:
        fields["template"] = template
        fields["variables"] = parse_vars(variables)
    elif variables:
        raise InvalidRequest("--var sets a template's variables: use it with --template")
    return fields


def show_hints(hints: list[PromptHint]) -> None:
    for hint in hints:
        label = escape(f"hint[{hint.code}]:")
        err.print(f"[yellow]{label}[/] {escape(hint.message)}", markup=True, highlight=False)
