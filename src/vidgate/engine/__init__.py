"""The durable job engine: one DBOS workflow per job (see ``workflow``), the job store, and the
``Engine`` facade that admits, starts, watches and cancels jobs."""

from __future__ import annotations

from .service import Engine

__all__ = ["Engine"]
