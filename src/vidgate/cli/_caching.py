"""The cache options ``generate`` and ``estimate`` share: ``--no-cache``, ``--cache similar``."""

from __future__ import annotations

from typing import Annotated

import typer

from ..exceptions import InvalidRequest
from ..types import CacheMode

__all__ = ["CacheOption", "NoCacheOption", "cache_mode"]

CacheOption = Annotated[
    str | None,
    typer.Option(
        "--cache",
        help="'similar': also reuse a finished video whose prompt is near-identical "
        "(everything else equal); 'on' (the default) reuses only an identical request's video "
        "(explicit seed, deterministic model).",
    ),
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Generate anew even if an identical video exists.")
]


def cache_mode(cache: str | None, no_cache: bool) -> CacheMode:
    """The request's ``cache`` field from the two options."""
    value = (cache or "on").strip().lower()
    if value not in ("on", "similar", "off"):
        raise InvalidRequest(f"--cache is 'on', 'off' or 'similar', not {cache!r}")
    if no_cache:
        if cache is not None and value != "off":
            raise InvalidRequest("give --no-cache or --cache, not both")
        return False
    return "similar" if value == "similar" else value == "on"
