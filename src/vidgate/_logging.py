"""Logging helpers shared by the engine and the CLI."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["CurrentStderr"]


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when it was built
    (tests and CLI runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass
