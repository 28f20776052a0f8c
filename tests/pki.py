"""A test certificate chain for Content Credentials, made with ``cryptography``: the shape of
c2pa-python's own test fixtures (es256_certs.pem) — a root CA, an intermediate CA, and an ES256
end-entity certificate with a critical key usage (digitalSignature, nonRepudiation) and a
critical extended key usage (emailProtection); the chain handed to the signer is the end entity
then the intermediate, never the root."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


# -- a test PKI ------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vidgate tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, sign: bool = True, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def issue(
    common_name: str,
    issuer: Issued | None,
    *,
    ca: bool = False,
    eku: bool = True,
    days: tuple[int, int] = (-1, 30),
) -> Issued:
    """A certificate for a new P-256 key, issued by ``issuer`` (self-signed when None)."""
    key = ec.generate_private_key(ec.SECP256R1())
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), False
        )
    )
    if eku and not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=True
        )
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


@dataclass
class Pki:
    root: Path
    cert: Path
    key: Path
    intermediate: Issued
    signer: Issued


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    root = issue("vidgate test root", None, ca=True)
    intermediate = issue("vidgate test intermediate", root, ca=True)
    signer = issue("vidgate test signer", intermediate)
    (folder / "root.pem").write_bytes(root.pem())
    (folder / "chain.pem").write_bytes(signer.pem() + intermediate.pem())
    (folder / "signer.key").write_bytes(signer.key_pem())
    chain, key = folder / "chain.pem", folder / "signer.key"
    return Pki(folder / "root.pem", chain, key, intermediate, signer)
