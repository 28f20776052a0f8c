"""fal's webhook signing keys for the fal adapter (:mod:`vidgate.providers.fal`): the Ed25519
keys read from a JWKS document, cached per JWKS URL.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..exceptions import ProviderAuthError

__all__ = ["JWKS_REFETCH_AFTER", "JWKS_TTL", "jwks_keys"]

#: How long fetched JWKS keys are trusted (fal's guidance: at most a day; keys rotate).
JWKS_TTL = 3600.0
#: A signature no cached key verifies reads the JWKS again, but no more often than this.
JWKS_REFETCH_AFTER = 60.0

# -- webhook keys --------------------------------------------------------------------------------

_jwks_lock = threading.Lock()
#: JWKS URL → (monotonic time fetched, its Ed25519 keys).
_jwks_cache: dict[str, tuple[float, tuple[Ed25519PublicKey, ...]]] = {}


def _b64url(text: str) -> bytes:
    """base64url, with or without ``=`` padding (fal's live keys reportedly keep it)."""
    stripped = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def _parse_jwks(document: Any) -> tuple[Ed25519PublicKey, ...]:
    keys: list[Ed25519PublicKey] = []
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "OKP":
            continue
        if entry.get("crv") != "Ed25519" or not isinstance(entry.get("x"), str):
            continue
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(_b64url(entry["x"])))
        except (ValueError, binascii.Error):
            continue
    return tuple(keys)


def jwks_keys(url: str, provider: str, *, refresh: bool = False) -> tuple[Ed25519PublicKey, ...]:
    """fal's webhook keys from the JWKS at ``url``, cached for ``JWKS_TTL``; ``refresh`` reads
    them again unless they were read in the last ``JWKS_REFETCH_AFTER`` seconds. A failed
    read falls back to keys read before, if any."""
    now = time.monotonic()
    with _jwks_lock:
        cached = _jwks_cache.get(url)
    if cached is not None:
        age = now - cached[0]
        if (not refresh and age < JWKS_TTL) or (refresh and age < JWKS_REFETCH_AFTER):
            return cached[1]
    try:
        # Synchronous: parse_webhook is; this runs at most once a minute.
        response = httpx.get(url, timeout=10.0, follow_redirects=True)
        keys = _parse_jwks(response.json()) if response.status_code == 200 else ()
        problem = f"HTTP {response.status_code}" if not keys else ""
    except (httpx.HTTPError, ValueError) as exc:
        keys, problem = (), f"{type(exc).__name__}: {exc}"
    if not keys:
        if cached is not None:
            return cached[1]
        raise ProviderAuthError(
            f"cannot verify a fal webhook: no Ed25519 key could be read from the JWKS at "
            f"{url.split('?')[0]} ({problem or 'no OKP/Ed25519 keys'})",
            provider=provider,
        )
    with _jwks_lock:
        _jwks_cache[url] = (now, keys)
    return keys
