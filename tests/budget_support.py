"""What the budget tests share: a catalogue where the offline models have a price, and readers
of the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from vidgate.catalog import loader
from vidgate.db import ledger

#: The priced offline models: synth-1 is routed first, synth-draft (dearer) is its fallback.
FIRST_PER_SECOND = 0.10
FALLBACK_PER_SECOND = 0.30


def priced_catalog(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point ``VIDGATE_CATALOG_DIR`` at a copy of the simulated provider's profile with prices;
    returns the variables to hand a subprocess."""
    source = Path(loader.__file__).with_name("data") / "simulated.toml"
    text = source.read_text(encoding="utf-8")
    first, second = text.split("[[models]]", 2)[1:]
    text = (
        text.split("[[models]]", 1)[0]
        + "[[models]]"
        + first.replace("usd_per_second = 0.0", f"usd_per_second = {FIRST_PER_SECOND}")
        + "[[models]]"
        + second.replace("usd_per_second = 0.0", f"usd_per_second = {FALLBACK_PER_SECOND}")
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "simulated.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("VIDGATE_CATALOG_DIR", str(folder))
    loader._cached.cache_clear()
    return {"VIDGATE_CATALOG_DIR": str(folder)}


def ledger_rows(engine: sa.Engine, job_id: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(ledger).order_by(ledger.c.id)
    if job_id is not None:
        query = query.where(ledger.c.job_id == job_id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def kinds(engine: sa.Engine, job_id: str) -> list[str]:
    return [r["kind"] for r in ledger_rows(engine, job_id)]
