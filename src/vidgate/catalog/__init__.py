"""The model catalogue: every provider's models, their capabilities, prices and lifecycle, as data.

``load_catalog()`` reads the TOML files shipped in ``vidgate/catalog/data/``, the profile of
every provider plugin registered through the ``vidgate.providers`` entry-point group, and any
extra files in ``$VIDGATE_CATALOG_DIR``.
"""

from __future__ import annotations

from .capabilities import (
    EffectiveParams,
    PriceLine,
    billed_seconds,
    effective_params,
    frame_sizes,
    price_line,
    quote,
    violations,
)
from .loader import Catalog, load_catalog, load_provider_file
from .schema import (
    Billing,
    DurationRange,
    Lifecycle,
    LifecycleStage,
    ModelProfile,
    Price,
    PriceTier,
    ProviderProfile,
    Rule,
)

__all__ = [
    "Billing",
    "Catalog",
    "DurationRange",
    "EffectiveParams",
    "Lifecycle",
    "LifecycleStage",
    "ModelProfile",
    "Price",
    "PriceLine",
    "PriceTier",
    "ProviderProfile",
    "Rule",
    "billed_seconds",
    "effective_params",
    "frame_sizes",
    "load_catalog",
    "load_provider_file",
    "price_line",
    "quote",
    "violations",
]
