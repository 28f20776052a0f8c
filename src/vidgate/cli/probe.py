"""``vidgate probe``: what is in a media file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..media.probe import probe
from ._console import friendly, out, print_json


@friendly
def probe_cmd(
    path: Annotated[Path, typer.Argument(help="A video file.")],
    decode: Annotated[
        bool, typer.Option(help="Decode every frame to prove the file is whole.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Container, codecs, size, duration, frame rate and audio of a video file."""
    info = probe(path, decode=decode)
    if json_output:
        print_json(info)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in info.model_dump().items():
        grid.add_row(key, "-" if value is None else str(value))
    grid.add_row("aspect", f"{info.aspect_value:.4f}")
    out.print(grid)
