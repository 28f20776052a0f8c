"""Read and verify a file's Content Credentials, as plain data (``vidgate provenance FILE``).

The C2PA library checks everything a validator checks: the claim signature, the certificate
profile, every assertion's hash and the hard binding to the file's bytes (BMFF or data hash),
and each ingredient's own manifest. :func:`read_credentials` reports:

- ``state``: ``trusted`` (valid, and the signer chains to one of the trust anchors given),
  ``valid`` (the signature and the bindings verify; the signer is not known to be trusted),
  ``invalid`` (something does not verify: ``problems`` says what — a changed byte is
  ``assertion.bmffHash.mismatch`` or ``assertion.dataHash.mismatch``), or ``none`` (no
  credentials embedded and no sidecar ``<stem>.c2pa`` beside the file);
- ``verified``: the state is ``trusted`` or ``valid``;
- the active manifest: claim generator, signer (issuer, common name, algorithm, time-stamp),
  whether it marks the file AI-generated, its actions, vidgate's ``org.vidgate.generation``
  facts, and its ingredients (a provider's own manifest kept as the parent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypedDict

from . import _c2pa
from .manifest import GENERATION_LABEL
from .sign import mime_type

__all__ = ["AI_SOURCE_TYPES", "Credentials", "read_credentials"]

State = Literal["trusted", "valid", "invalid", "none"]
#: The IPTC digital source types that mark media as made by AI (in whole or in part).
AI_SOURCE_TYPES = frozenset(
    {
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
    }
)
_UNTRUSTED = "signingCredential.untrusted"


class Problem(TypedDict):
    code: str
    explanation: str


class Action(TypedDict):
    action: str
    when: str | None
    agent: str | None
    digital_source_type: str | None
    parameters: dict[str, Any]


class Ingredient(TypedDict):
    title: str | None
    relationship: str | None
    format: str | None
    #: The ingredient's own manifest (a provider's), when it had one.
    active_manifest: str | None
    #: Whether that manifest verified when it was taken in (None: it had none).
    verified: bool | None


class Signer(TypedDict):
    issuer: str | None
    common_name: str | None
    alg: str | None
    #: The time-stamp authority's time, when the manifest has one.
    time: str | None


class Credentials(TypedDict):
    """A file's Content Credentials as read and verified (see the module docstring)."""

    file: str
    state: State
    verified: bool
    trusted: bool
    embedded: bool
    #: The sidecar manifest store read, when the credentials are not in the file.
    manifest_store: str | None
    active_manifest: str | None
    manifests: int
    title: str | None
    format: str | None
    claim_generator: str | None
    signer: Signer | None
    ai_generated: bool
    actions: list[Action]
    generation: dict[str, Any]
    ingredients: list[Ingredient]
    problems: list[Problem]


def _none(path: Path) -> Credentials:
    return {
        "file": str(path),
        "state": "none",
        "verified": False,
        "trusted": False,
        "embedded": False,
        "manifest_store": None,
        "active_manifest": None,
        "manifests": 0,
        "title": None,
        "format": None,
        "claim_generator": None,
        "signer": None,
        "ai_generated": False,
        "actions": [],
        "generation": {},
        "ingredients": [],
        "problems": [],
    }


def _agent(value: object) -> str | None:
    if isinstance(value, dict):
        name, version = value.get("name"), value.get("version")
        return f"{name}/{version}" if name and version else (str(name) if name else None)
    return str(value) if value else None


def _actions(manifest: dict[str, Any]) -> list[Action]:
    found: list[Action] = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for item in (assertion.get("data") or {}).get("actions") or []:
            found.append(
                {
                    "action": str(item.get("action", "")),
                    "when": item.get("when"),
                    "agent": _agent(item.get("softwareAgent")),
                    "digital_source_type": item.get("digitalSourceType"),
                    "parameters": dict(item.get("parameters") or {}),
                }
            )
    return found


def _problems(results: dict[str, Any] | None, status: list[dict[str, Any]]) -> list[Problem]:
    failures = list((results or {}).get("activeManifest", {}).get("failure") or []) or status
    for delta in (results or {}).get("ingredientDeltas") or []:
        failures += (delta.get("validationDeltas") or {}).get("failure") or []
    seen: list[Problem] = []
    for item in failures:
        code = str(item.get("code", ""))
        if code == _UNTRUSTED:
            continue  # reported as ``trusted``, not as a problem
        problem: Problem = {"code": code, "explanation": str(item.get("explanation", ""))}
        if problem not in seen:
            seen.append(problem)
    return seen


def _ingredient(item: dict[str, Any]) -> Ingredient:
    label = item.get("active_manifest")
    verified = None
    if label:
        failures = (item.get("validation_results") or {}).get("activeManifest", {}).get("failure")
        verified = not [f for f in failures or [] if f.get("code") != _UNTRUSTED]
    return {
        "title": item.get("title"),
        "relationship": item.get("relationship"),
        "format": item.get("format"),
        "active_manifest": label,
        "verified": verified,
    }


def _describe(path: Path, store: dict[str, Any], state_name: str | None) -> Credentials:
    found = _none(path)
    active = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    manifest: dict[str, Any] = manifests.get(active) or {}
    problems = _problems(store.get("validation_results"), store.get("validation_status") or [])
    state: State = "invalid"
    if not problems and state_name == "Trusted":
        state = "trusted"
    elif not problems and state_name == "Valid":
        state = "valid"
    info = manifest.get("signature_info") or {}
    generators = manifest.get("claim_generator_info") or []
    actions = _actions(manifest)
    generation = next(
        (
            dict(a.get("data") or {})
            for a in manifest.get("assertions") or []
            if a.get("label") == GENERATION_LABEL
        ),
        {},
    )
    found.update(
        {
            "state": state,
            "verified": state in ("trusted", "valid"),
            "trusted": state == "trusted",
            "active_manifest": active if isinstance(active, str) else None,
            "manifests": len(manifests),
            "title": manifest.get("title"),
            "format": manifest.get("format"),
            "claim_generator": _agent(generators[0]) if generators else None,
            "signer": {
                "issuer": info.get("issuer"),
                "common_name": info.get("common_name"),
                "alg": info.get("alg"),
                "time": info.get("time"),
            }
            if info
            else None,
            "ai_generated": any(a["digital_source_type"] in AI_SOURCE_TYPES for a in actions),
            "actions": actions,
            "generation": generation,
            "ingredients": [_ingredient(i) for i in manifest.get("ingredients") or []],
            "problems": problems,
        }
    )
    return found


def read_credentials(
    path: str | Path,
    *,
    manifest: str | Path | None = None,
    trust_anchors: str | Path | None = None,
) -> Credentials:
    """Read and verify ``path``'s credentials: embedded, else from ``manifest`` or the sidecar
    ``<stem>.c2pa`` beside it. ``trust_anchors`` is a PEM file of roots to trust.

    Raises ``ConfigurationError`` without c2pa-python or with unreadable trust anchors, and
    ``OSError`` when ``path`` cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    c2pa = _c2pa.load()
    anchors = None
    if trust_anchors is not None:
        from vidgate.exceptions import ConfigurationError

        try:
            anchors = Path(trust_anchors).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"the trust anchors ({trust_anchors}) cannot be read: {exc}",
                details={"variable": "VIDGATE_C2PA_TRUST_ANCHORS"},
            ) from None
    context = _c2pa.settings(c2pa, anchors)
    sidecar = Path(manifest) if manifest is not None else path.with_suffix(".c2pa")
    try:
        if manifest is None:
            reader = _embedded(c2pa, path, context)
            if reader is not None:
                with reader:
                    found = _describe(
                        path, json.loads(reader.json()), reader.get_validation_state()
                    )
                found["embedded"] = True
                return found
        if not sidecar.is_file() or sidecar == path:
            return _none(path)
        store = sidecar.read_bytes()
        with (
            path.open("rb") as stream,
            c2pa.Reader(mime_type(path), stream, store, context) as reader,
        ):
            found = _describe(path, json.loads(reader.json()), reader.get_validation_state())
        found["manifest_store"] = str(sidecar)
        return found
    except c2pa.C2paError as exc:
        broken = _none(path)
        broken["state"] = "invalid"
        if _c2pa.is_remote(c2pa, exc):
            problem: Problem = {
                "code": "manifest.remote",
                "explanation": "the file points to credentials at a remote URL, which vidgate "
                "does not fetch",
            }
        else:
            problem = {"code": "manifest.unreadable", "explanation": _c2pa.scrub(exc)}
        broken["problems"] = [problem]
        return broken


def _embedded(c2pa: Any, path: Path, context: Any) -> Any:
    """A reader of the manifest embedded in ``path``, or None when there is none."""
    try:
        return c2pa.Reader.try_create(str(path), None, None, context)
    except c2pa.C2paError.NotSupported:
        return None  # a format that cannot carry one: look for a sidecar
