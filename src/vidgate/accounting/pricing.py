"""Operator price overrides (``VIDGATE_PRICES``), and the catalogue with them applied.

Negotiated rates are common, so an operator can replace any model's price with a file of
per-model overrides, TOML or JSON, keyed by ``provider:model``::

    ["runway:gen4.5"]
    usd_per_second = 0.10                 # one flat figure …

    ["luma:ray-2"]                        # … or tiers, in the catalogue's own shape
    tiers = [{ resolution = "720p", usd_per_second = 0.12 }, { usd_per_second = 0.2 }]
    block_seconds = 5
    note = "contract 2026-11"

An overridden price shows status ``override`` and source ``operator`` everywhere a price is
shown (``vidgate models``, ``/v1/models``, every quote). Mistakes are refused when the file is
read, each naming the model and the field.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..catalog import Catalog, Price, load_catalog
from ..exceptions import ConfigurationError, UnknownModel
from ..settings import Settings

__all__ = ["load_overrides", "priced_catalog"]

_UNITS = ("usd_per_second", "usd_per_video", "usd_per_megapixel")
_MAX_BYTES = 1_000_000


def load_overrides(path: Path, catalog: Catalog) -> dict[str, Price]:
    """Read and check an override file: every key a known ``provider:model``, every entry a
    valid price. Raises ``ConfigurationError`` naming what is wrong."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ConfigurationError(f"VIDGATE_PRICES file {path} is larger than 1 MB")
        text = path.read_text(encoding="utf-8")
        raw: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"VIDGATE_PRICES file {path} cannot be read: {exc}") from exc
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigurationError(f"VIDGATE_PRICES file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"VIDGATE_PRICES file {path} must map 'provider:model' to a price")
    as_of = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
    prices: dict[str, Price] = {}
    for ref, entry in raw.items():
        try:
            model = catalog.get(ref)
        except UnknownModel as exc:
            raise ConfigurationError(f"VIDGATE_PRICES file {path}: {exc}") from None
        prices[model.ref] = _price(path, ref, entry, as_of)
    return prices


def _price(path: Path, ref: str, entry: Any, as_of: Any) -> Price:
    where = f"VIDGATE_PRICES file {path}, {ref}"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: expected a table with a price, got {entry!r:.60}")
    entry = dict(entry)
    flat = {unit: entry.pop(unit) for unit in _UNITS if unit in entry}
    if flat and "tiers" in entry:
        raise ConfigurationError(f"{where}: give either tiers or one flat price, not both")
    if flat:
        entry["tiers"] = [flat]
    if "tiers" not in entry:
        raise ConfigurationError(
            f"{where}: no price given (use one of {', '.join(_UNITS)}, or tiers)"
        )
    for forced in ("status", "source", "as_of"):
        entry.pop(forced, None)
    try:
        return Price.model_validate(
            {**entry, "status": "override", "source": "operator", "as_of": as_of}
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'price'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"{where}: {problems}") from None


def priced_catalog(settings: Settings | None = None) -> Catalog:
    """The catalogue with the operator's ``VIDGATE_PRICES`` overrides applied (if any)."""
    settings = settings or Settings()
    catalog = load_catalog()
    if settings.prices is None:
        return catalog
    return catalog.with_prices(load_overrides(settings.prices.expanduser(), catalog))
