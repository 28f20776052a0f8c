"""Sign a delivered file with the operator's certificate: its C2PA manifest embedded where the
format can carry one, in a sidecar ``.c2pa`` manifest store where it cannot.

How the engine calls it (one call per delivered file, in the media lane: CPU and file work,
plain data in and out)::

    signer = provenance.signer_config(settings)          # once per step, in the worker
    result = await lane.run(
        provenance.sign_file,
        str(rendition_path), str(signed_path),          # source, dest (dest != source)
        provenance.facts(provider=…, model=…, generated_at=attempt_finished_at,
                         deployment=settings.deployment_name, job_id=job.id,
                         variant="720p", edits=[provenance.edit("c2pa.transcoded", …)]),
        signer,                                        # None: not configured
        str(original_path),                            # the provider's file, or None
    )
    # store result["path"] and, when result["manifest"] is set, the sidecar next to it;
    # keep the result (a SignResult) on the asset: the job lists it.

Sign last: signing changes an embedded file's bytes, so the asset's size and checksum are
taken from ``result["path"]`` after the call, and nothing may rewrite the file afterwards.
The ``original`` variant is signed too (``source`` = the provider's file, ``parent`` None,
no edits: the provider's own manifest, if any, becomes our parent).

``signer_config`` decides what happens without a certificate: ``None`` (files are delivered
unsigned, and every ``SignResult`` says so in ``signed``/``note``), or, with
``VIDGATE_C2PA_REQUIRED=true``, a ``ConfigurationError`` that stops delivery. A certificate or
key that is missing, unreadable, mismatched or unfit for C2PA is always a
``ConfigurationError`` naming the variable (never the key's contents).

Formats: MP4/M4V/MOV (BMFF, AV1 in MP4 too), JPEG, WebP, PNG, GIF, AVIF, HEIC/HEIF and TIFF
carry their manifest inside the file. Anything else vidgate delivers — WebM, HLS playlists
(``.m3u8``) and segments (``.m4s``, ``.ts``), WebVTT — is copied unchanged and gets a sidecar
``<dest stem>.c2pa`` (the C2PA convention readers look for) whose data hash covers the whole
file: two such files with one stem in one folder would share a sidecar, so name them apart.

A manifest the provider already embedded — in ``parent`` (the original the rendition was
made from) or in ``source`` itself — is kept as the parent ingredient of ours, never stripped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict

from vidgate.exceptions import ConfigurationError, ProvenanceError
from vidgate.settings import Settings

from . import _c2pa
from .manifest import Facts, definition

__all__ = [
    "EMBEDDED_FORMATS",
    "SIDECAR_FORMATS",
    "SignResult",
    "SignerConfig",
    "mime_type",
    "sign_file",
    "signer_config",
]

#: Suffixes whose files carry their manifest inside, and their MIME types.
EMBEDDED_FORMATS = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".png": "image/png",
    ".gif": "image/gif",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
#: Suffixes that get a sidecar, and the MIME type the manifest records for them.
SIDECAR_FORMATS = {
    ".webm": "video/webm",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
}
_PARENT_LABEL = "provider-original"
NOT_CONFIGURED = (
    "not signed: no C2PA signing certificate is configured (set VIDGATE_C2PA_CERT and "
    "VIDGATE_C2PA_KEY)"
)


class SignerConfig(TypedDict):
    """Where the operator's certificate chain and key are, and how to sign. Paths only: the
    key is read by the process that signs, and never travels or reaches a log."""

    cert: str
    key: str
    #: ``es256``, ``es384``, ``es512``, ``ps256`` or ``ed25519``: follows from the key.
    alg: str
    tsa_url: str | None


class SignResult(TypedDict):
    """What :func:`sign_file` did: plain data for the asset row and the job's listing."""

    #: The delivered file (``dest``).
    path: str
    #: False when no certificate is configured (``note`` says so): ``path`` is a plain copy.
    signed: bool
    #: True when the manifest is inside ``path``; False for a sidecar (or unsigned).
    embedded: bool
    #: The sidecar manifest store (``<dest stem>.c2pa``) when not embedded, else None.
    manifest: str | None
    #: The MIME type signed as.
    format: str
    #: Our manifest's label (``urn:c2pa:…``), the active manifest of the file.
    label: str | None
    #: The provider's own manifest, kept as our parent ingredient, if there was one.
    parent_label: str | None
    note: str | None


# -- the signer: the operator's certificate and key ----------------------------------------


def _read(path: Path, variable: str) -> bytes:
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{variable} ({path}) cannot be read: {exc.strerror or exc}",
            details={"variable": variable},
        ) from None
    if not data.strip():
        raise ConfigurationError(f"{variable} ({path}) is empty", details={"variable": variable})
    return data


def _alg(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in curves:
            return curves[key.curve.name]
        raise ConfigurationError(
            f"VIDGATE_C2PA_KEY is an EC key on {key.curve.name}: C2PA signs with P-256, "
            "P-384 or P-521",
            details={"variable": "VIDGATE_C2PA_KEY"},
        )
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigurationError(
                "VIDGATE_C2PA_KEY is an RSA key under 2048 bits",
                details={"variable": "VIDGATE_C2PA_KEY"},
            )
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ConfigurationError(
        "VIDGATE_C2PA_KEY must be an EC (P-256/384/521), RSA or Ed25519 private key",
        details={"variable": "VIDGATE_C2PA_KEY"},
    )


def _unfit(reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"VIDGATE_C2PA_CERT cannot sign Content Credentials: {reason}",
        details={"variable": "VIDGATE_C2PA_CERT"},
    )


def _check_certificate(chain: list[Any], key: Any) -> None:
    """The end-entity certificate (the chain's first) must fit C2PA's certificate profile, so
    the operator hears it at start, not from a validator later."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    leaf = chain[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if leaf.public_key().public_bytes(pem, spki) != key.public_key().public_bytes(pem, spki):
        raise ConfigurationError(
            "VIDGATE_C2PA_KEY is not the key of the first certificate in VIDGATE_C2PA_CERT",
            details={"variable": "VIDGATE_C2PA_KEY"},
        )
    now = dt.datetime.now(dt.UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise _unfit(
            f"it is valid from {leaf.not_valid_before_utc:%Y-%m-%d} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}"
        )
    if leaf.issuer == leaf.subject:
        raise _unfit("it is self-signed; C2PA needs a certificate issued by a CA")
    extensions = leaf.extensions
    with contextlib.suppress(x509.ExtensionNotFound):
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise _unfit("it is a CA certificate; sign with an end-entity certificate")
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise _unfit("it has no key usage extension (digitalSignature)") from None
    if not usage.digital_signature:
        raise _unfit("its key usage lacks digitalSignature")
    try:
        purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise _unfit("it has no extended key usage (e.g. emailProtection)") from None
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in purposes:
        raise _unfit("its extended key usage may not be anyExtendedKeyUsage")


def signer_config(settings: Settings) -> SignerConfig | None:
    """The signer for ``settings``, checked: None when no certificate is configured (files
    are delivered unsigned, each ``SignResult`` says so) unless ``VIDGATE_C2PA_REQUIRED``.

    Raises ``ConfigurationError`` for a half configuration, an unreadable, malformed,
    encrypted, expired or unfit certificate or key, or a key that is not the certificate's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = settings.c2pa_cert, settings.c2pa_key
    if cert_path is None and key_path is None:
        if settings.c2pa_required:
            raise ConfigurationError(
                "VIDGATE_C2PA_REQUIRED is set but no signing certificate is: set "
                "VIDGATE_C2PA_CERT and VIDGATE_C2PA_KEY",
                details={"variable": "VIDGATE_C2PA_CERT"},
            )
        return None
    if cert_path is None or key_path is None:
        missing = "VIDGATE_C2PA_CERT" if cert_path is None else "VIDGATE_C2PA_KEY"
        raise ConfigurationError(
            f"Content Credentials need both VIDGATE_C2PA_CERT and VIDGATE_C2PA_KEY: "
            f"{missing} is not set",
            details={"variable": missing},
        )
    try:
        chain = x509.load_pem_x509_certificates(_read(cert_path, "VIDGATE_C2PA_CERT"))
    except ValueError:
        raise ConfigurationError(
            f"VIDGATE_C2PA_CERT ({cert_path}) is not a PEM certificate chain",
            details={"variable": "VIDGATE_C2PA_CERT"},
        ) from None
    try:
        key = serialization.load_pem_private_key(_read(key_path, "VIDGATE_C2PA_KEY"), None)
    except TypeError:
        raise ConfigurationError(
            f"VIDGATE_C2PA_KEY ({key_path}) is encrypted: give an unencrypted PEM key "
            "readable only by vidgate",
            details={"variable": "VIDGATE_C2PA_KEY"},
        ) from None
    except ValueError:
        # Never echo the parser's message: it may quote the key.
        raise ConfigurationError(
            f"VIDGATE_C2PA_KEY ({key_path}) is not a PEM private key",
            details={"variable": "VIDGATE_C2PA_KEY"},
        ) from None
    alg = _alg(key)
    _check_certificate(chain, key)
    return {
        "cert": str(cert_path.expanduser()),
        "key": str(key_path.expanduser()),
        "alg": alg,
        "tsa_url": settings.c2pa_tsa_url,
    }


@contextlib.contextmanager
def _signer(c2pa: ModuleType, config: SignerConfig) -> Iterator[Any]:
    cert = _read(Path(config["cert"]), "VIDGATE_C2PA_CERT")
    key = _read(Path(config["key"]), "VIDGATE_C2PA_KEY")
    try:
        alg = c2pa.C2paSigningAlg[config["alg"].upper()]
        info = c2pa.C2paSignerInfo(alg, cert, key, config["tsa_url"])
        signer = c2pa.Signer.from_info(info)
    except (c2pa.C2paError, KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"the C2PA library refused the signing certificate or key: {_c2pa.scrub(exc)}",
            details={"variable": "VIDGATE_C2PA_CERT"},
        ) from None
    with signer:
        yield signer


# -- signing --------------------------------------------------------------------------------


def _format(dest: Path) -> tuple[str, bool]:
    suffix = dest.suffix.lower()
    if suffix in EMBEDDED_FORMATS:
        return EMBEDDED_FORMATS[suffix], True
    return mime_type(dest), False


def mime_type(path: Path) -> str:
    """The MIME type vidgate signs a file as, by its suffix."""
    suffix = path.suffix.lower()
    return EMBEDDED_FORMATS.get(suffix) or SIDECAR_FORMATS.get(suffix, "application/octet-stream")


def _existing_manifest(c2pa: ModuleType, path: Path, context: Any) -> str | None:
    """The label of the manifest already embedded in ``path`` (a provider's), or None."""
    if path.suffix.lower() not in EMBEDDED_FORMATS:
        return None  # nothing to read in a format that cannot carry one
    try:
        reader = c2pa.Reader.try_create(str(path), None, None, context)
    except c2pa.C2paError:
        return None  # unreadable credentials: nothing that could be kept
    if reader is None:
        return None
    with reader:
        store = json.loads(reader.json())
    active = store.get("active_manifest")
    return active if isinstance(active, str) else None


def _temporary(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")


def _copy(source: Path, dest: Path) -> None:
    tmp = _temporary(dest)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sign_file(
    source: str | Path,
    dest: str | Path,
    facts: Facts,
    signer: SignerConfig | None,
    parent: str | Path | None = None,
) -> SignResult:
    """Write ``source`` to ``dest`` with Content Credentials stating ``facts``, signed by
    ``signer``; return what was done (:class:`SignResult`). Runs in a media-lane process:
    every argument and the result are plain data.

    - ``dest``'s suffix decides the format: embedded for the :data:`EMBEDDED_FORMATS`, else
      ``dest`` is an unchanged copy and the manifest goes to ``dest.with_suffix(".c2pa")``.
    - ``parent``: the file ``source`` was made from (the provider's original). A manifest the
      provider embedded there — or in ``source`` itself when there is no ``parent`` — becomes
      our parent ingredient.
    - ``signer`` None (not configured): ``dest`` is a plain copy, ``signed`` False, ``note``
      says why. Any stale sidecar from an earlier signed run is removed.
    - Idempotent: ``dest`` and the sidecar are written to temporary siblings and moved into
      place, so a step that runs again overwrites them whole.

    Raises ``ConfigurationError`` (c2pa-python missing, the certificate, key or time-stamp
    authority refused) or
    ``ProvenanceError`` (the file could not be signed, e.g. not the format its name says).
    """
    source, dest = Path(source), Path(dest)
    if source.resolve() == dest.resolve():
        raise ValueError("sign_file writes a new file: dest must not be source")
    if not source.is_file():
        raise ProvenanceError(f"no file to sign at {source.name}", details={"file": source.name})
    fmt, embedded = _format(dest)
    sidecar = None if embedded else dest.with_suffix(".c2pa")
    if signer is None:
        _copy(source, dest)
        if sidecar is not None:
            sidecar.unlink(missing_ok=True)
        return {
            "path": str(dest),
            "signed": False,
            "embedded": False,
            "manifest": None,
            "format": fmt,
            "label": None,
            "parent_label": None,
            "note": NOT_CONFIGURED,
        }

    c2pa = _c2pa.load()
    context = _c2pa.settings(c2pa)
    origin = Path(parent) if parent is not None else source
    parent_label = _existing_manifest(c2pa, origin, context)
    label = f"urn:c2pa:{uuid.uuid4()}"
    manifest = definition(
        facts, title=dest.name, fmt=fmt, parent_label=_PARENT_LABEL if parent_label else None
    )
    manifest["label"] = label
    tmp = _temporary(dest)
    try:
        with _signer(c2pa, signer) as c2pa_signer, c2pa.Builder(manifest, context) as builder:
            if parent_label:
                ingredient = {
                    "title": origin.name,
                    "relationship": "parentOf",
                    "label": _PARENT_LABEL,
                }
                with origin.open("rb") as stream:
                    builder.add_ingredient(ingredient, mime_type(origin), stream)
            if not embedded:
                builder.set_no_embed()
            with source.open("rb") as src, tmp.open("w+b") as out:
                store = builder.sign(c2pa_signer, fmt, src, out)
        if sidecar is not None:
            side_tmp = _temporary(sidecar)
            side_tmp.write_bytes(store)
            os.replace(side_tmp, sidecar)
        os.replace(tmp, dest)
    except c2pa.C2paError.Signature as exc:
        # The library checks the certificate profile (and asks the time-stamp authority) only
        # when it signs: the operator's to fix, not the file's.
        raise ConfigurationError(
            "the C2PA library refused to sign with the configured certificate or time-stamp "
            f"authority: {_c2pa.scrub(exc)}",
            details={"variable": "VIDGATE_C2PA_CERT"},
        ) from None
    except c2pa.C2paError as exc:
        raise ProvenanceError(
            f"{dest.name} could not be signed as {fmt}: {_c2pa.scrub(exc)}",
            details={"file": dest.name, "format": fmt},
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "path": str(dest),
        "signed": True,
        "embedded": embedded,
        "manifest": None if sidecar is None else str(sidecar),
        "format": fmt,
        "label": label,
        "parent_label": parent_label,
        "note": None,
    }
