"""The one door to c2pa-python (the optional extra ``provenance``): imported on first use, so
the rest of vidgate imports and runs without it."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from vidgate.exceptions import ConfigurationError

__all__ = ["EXTRA_HINT", "is_remote", "load", "scrub", "settings"]

EXTRA_HINT = "install the provenance extra: pip install 'vidgate[provenance]'"
_PEM = re.compile(r"-----BEGIN [^-]+-----.*?(-----END [^-]+-----|$)", re.DOTALL)


def load() -> ModuleType:
    """The ``c2pa`` module, or a ``ConfigurationError`` that names the extra to install."""
    try:
        import c2pa
    except ImportError as exc:
        raise ConfigurationError(
            f"Content Credentials (C2PA) need the c2pa-python package: {EXTRA_HINT}",
            details={"extra": "provenance"},
        ) from exc
    module: ModuleType = c2pa  # untyped: no stubs, no py.typed
    return module


def settings(c2pa: ModuleType, trust_anchors: str | None = None) -> Any:
    """A ``c2pa.Context`` for vidgate: no thumbnails embedded (they would add a decoded frame
    to every file), the trust anchors to verify against, if any, and no network: a file's
    pointer to remote credentials is never followed (the library would fetch any URL a
    provider's file names — loopback and private addresses included), nor OCSP."""
    config: dict[str, Any] = {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    if trust_anchors is not None:
        config["trust"] = {"trust_anchors": trust_anchors}
    return c2pa.Context(c2pa.Settings.from_dict(config))


def scrub(message: object, limit: int = 300) -> str:
    """A C2PA library message fit for an error: PEM blocks removed, one line, bounded."""
    text = _PEM.sub("[PEM removed]", str(message))
    return " ".join(text.split())[:limit]


def is_remote(c2pa: ModuleType, exc: BaseException) -> bool:
    """Whether ``exc`` says the credentials are at a remote URL (not fetched). c2pa-python
    0.38 raises the plain ``C2paError`` for the native "Remote: …" error, so the prefix
    counts as well as the typed class."""
    return isinstance(exc, c2pa.C2paError.RemoteManifest) or str(exc).startswith("Remote")
