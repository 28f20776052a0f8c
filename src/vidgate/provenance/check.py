"""Check the configured signer end to end before any job needs it: sign a small picture with it
and read the credentials back (``vidgate provenance --check-signer``)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from vidgate.exceptions import ConfigurationError
from vidgate.settings import Settings

from .manifest import facts
from .read import Problem, read_credentials
from .sign import sign_file, signer_config

__all__ = ["SignerCheck", "check_signer"]


class SignerCheck(TypedDict):
    """What the configured certificate is, and whether what it signs verifies."""

    alg: str
    subject: str
    issuer: str
    not_after: str
    #: ``trusted``, ``valid`` or ``invalid`` (see ``read.py``).
    state: str
    verified: bool
    trusted: bool
    problems: list[Problem]


def check_signer(settings: Settings) -> SignerCheck:
    """Sign a 16x16 JPEG with ``settings``' certificate and verify it (against
    ``VIDGATE_C2PA_TRUST_ANCHORS`` when set). ``ConfigurationError`` when no certificate is
    configured or it is unusable."""
    from cryptography import x509
    from PIL import Image

    config = signer_config(settings)
    if config is None:
        raise ConfigurationError(
            "no C2PA signing certificate is configured (files are delivered unsigned): set "
            "VIDGATE_C2PA_CERT and VIDGATE_C2PA_KEY",
            details={"variable": "VIDGATE_C2PA_CERT"},
        )
    leaf = x509.load_pem_x509_certificates(Path(config["cert"]).read_bytes())[0]
    with tempfile.TemporaryDirectory(prefix="vidgate-c2pa-") as folder:
        source, dest = Path(folder) / "source.jpg", Path(folder) / "check.jpg"
        Image.new("RGB", (16, 16), (90, 120, 200)).save(source)
        stated = facts(
            provider="vidgate",
            model="signer-check",
            generated_at=datetime.now(UTC),
            deployment=settings.deployment_name,
        )
        sign_file(source, dest, stated, config)
        found = read_credentials(dest, trust_anchors=settings.c2pa_trust_anchors)
    return {
        "alg": config["alg"],
        "subject": leaf.subject.rfc4514_string(),
        "issuer": leaf.issuer.rfc4514_string(),
        "not_after": leaf.not_valid_after_utc.isoformat(),
        "state": found["state"],
        "verified": found["verified"],
        "trusted": found["trusted"],
        "problems": found["problems"],
    }
