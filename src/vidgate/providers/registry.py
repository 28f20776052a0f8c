"""Finding providers. Every provider, built in or third-party, is an entry point in the
``vidgate.providers`` group naming a ``Provider`` subclass::

    [project.entry-points."vidgate.providers"]
    acme = "vidgate_acme:AcmeProvider"

A third-party provider ships its catalogue file and points ``catalog_file`` at it.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points

from ..catalog.loader import add_profile_source
from ..catalog.schema import ProviderProfile
from ..exceptions import ConfigurationError, UnknownModel
from .base import Provider

__all__ = ["GROUP", "plugin_profiles", "provider_class", "provider_classes"]

GROUP = "vidgate.providers"
log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def provider_classes() -> dict[str, type[Provider]]:
    """Every installed provider, by name."""
    found: dict[str, type[Provider]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            log.warning("provider plugin %r failed to load: %s", ep.name, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            log.warning("provider plugin %r is not a vidgate Provider subclass", ep.name)
            continue
        found[cls.name] = cls
    if "simulated" not in found:
        # Running from a source tree whose package metadata is missing: the built-in must exist.
        from .simulated import SimulatedProvider

        found["simulated"] = SimulatedProvider
    return found


def provider_class(name: str) -> type[Provider]:
    classes = provider_classes()
    try:
        return classes[name]
    except KeyError:
        raise UnknownModel(
            f"no adapter is installed for provider {name!r} "
            f"(installed: {', '.join(sorted(classes))})",
            details={"provider": name},
        ) from None


def plugin_profiles() -> list[ProviderProfile]:
    """Catalogue entries of third-party providers (built-ins are read from the data directory)."""
    profiles = []
    for cls in provider_classes().values():
        if cls.catalog_file is not None:
            try:
                profiles.append(cls.profile())
            except ConfigurationError as exc:
                log.warning("provider %r has a broken catalogue: %s", cls.name, exc)
    return profiles


# The catalogue includes every plugin's profile (it cannot import this module: it stands below).
add_profile_source(plugin_profiles)
