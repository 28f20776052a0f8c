"""The fal simulator twin's webhook keys and signatures: the Ed25519 keys it signs with, the JWKS
that publishes them, and the signed headers of a delivery, as fal signs them.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["sign_webhook", "signing_key", "webhook_headers"]


def signing_key(app_state: Any) -> Ed25519PrivateKey:
    """This app's webhook signing key (made on first use; the JWKS also lists an older key)."""
    keys: list[Ed25519PrivateKey] | None = getattr(app_state, "fal_webhook_keys", None)
    if keys is None:
        keys = [Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()]
        app_state.fal_webhook_keys = keys
    return keys[-1]


def _jwks(app_state: Any) -> dict[str, Any]:
    signing_key(app_state)
    entries = []
    for number, key in enumerate(app_state.fal_webhook_keys):
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).decode("ascii")
        entries.append(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": f"sim-{number}",
                "use": "sig",
                "alg": "EdDSA",
                # fal's live keys reportedly keep the base64 padding; show both forms.
                "x": x if number == 0 else x.rstrip("="),
            }
        )
    return {"keys": entries}


def sign_webhook(
    key: Ed25519PrivateKey, request_id: str, user_id: str, timestamp: int, body: bytes
) -> str:
    """fal's webhook signature: hex Ed25519 over the four lines it documents."""
    message = "\n".join(
        [request_id, user_id, str(timestamp), hashlib.sha256(body).hexdigest()]
    ).encode()
    return key.sign(message).hex()


def webhook_headers(
    key: Ed25519PrivateKey, request_id: str, user_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """fal's four webhook headers (written in lower case: ``SimState.send_webhook`` tampers
    with the one whose name contains ``signature`` for the ``webhook-forged`` fault)."""
    return {
        "x-fal-webhook-request-id": request_id,
        "x-fal-webhook-user-id": user_id,
        "x-fal-webhook-timestamp": str(timestamp),
        "x-fal-webhook-signature": sign_webhook(key, request_id, user_id, timestamp, body),
    }
