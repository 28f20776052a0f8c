"""The model catalogue: every provider's models, their capabilities, prices and lifecycle, as data.

``load_catalog()`` reads the TOML files shipped in ``vidgate/catalog/data/``, the profile of
every provider plugin registered through the ``vidgate.providers`` entry-point group, and any
extra files in ``$VIDGATE_CATALOG_DIR``.
"""

from __future__ import annotations

from .capabilities import EffectiveParams, effective_params, frame_sizes, quote, violations
from .loader import Catalog, load_catalog, load_provider_file
from .schema import (
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
    "Catalog",
    "DurationRange",
    "EffectiveParams",
    "Lifecycle",
    "LifecycleStage",
    "ModelProfile",
    "Price",
    "PriceTier",
    "ProviderProfile",
    "Rule",
    "effective_params",
    "frame_sizes",
    "load_catalog",
    "load_provider_file",
    "quote",
    "violations",
]
