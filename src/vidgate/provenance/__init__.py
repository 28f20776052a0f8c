"""Content Credentials (C2PA) on every delivered file: what they state (``manifest``), signing
with the operator's certificate (``sign``) and reading them back (``read``).

A shared floor below the engine: plain data in and out, no engine, server or CLI import. The
C2PA library (c2pa-python, the ``provenance`` extra) is imported only when a file is signed or
read, so vidgate imports without it.
"""

from __future__ import annotations

from .check import SignerCheck, check_signer
from .manifest import DIGITAL_SOURCE_TYPE, Edit, Facts, edit, facts
from .read import Credentials, read_credentials
from .sign import SignerConfig, SignResult, sign_file, signer_config

__all__ = [
    "DIGITAL_SOURCE_TYPE",
    "Credentials",
    "Edit",
    "Facts",
    "SignResult",
    "SignerCheck",
    "SignerConfig",
    "check_signer",
    "edit",
    "facts",
    "read_credentials",
    "sign_file",
    "signer_config",
]
