"""The ``--priority`` and ``--strategy`` options ``generate`` and ``estimate`` share."""

from __future__ import annotations

from typing import Annotated

import typer

from ..priority.model import Priority, Strategy

__all__ = ["PriorityOption", "StrategyOption"]

PriorityOption = Annotated[
    Priority | None,
    typer.Option(
        help="critical, standard or batch (batch waits for the off-peak window); "
        "default: the tenant's, else standard.",
    ),
]
StrategyOption = Annotated[
    Strategy | None,
    typer.Option(
        help="Order the candidates: preferred, cheapest, fastest (measured p50), quality "
        "(catalogue tier), reliable (measured success); default: the one set for the priority.",
    ),
]
