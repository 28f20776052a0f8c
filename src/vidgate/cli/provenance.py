"""``vidgate provenance FILE``: show and verify a file's Content Credentials (C2PA)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..provenance.check import SignerCheck, check_signer
from ..provenance.read import Credentials, read_credentials
from ..settings import Settings
from ._console import EXIT_FAILED, EXIT_USAGE, fail, friendly, out, print_json

_STATE_STYLE = {"trusted": "green", "valid": "green", "invalid": "red", "none": "yellow"}
_STATE_TEXT = {
    "trusted": "trusted: the signature verifies and the signer chains to a trust anchor",
    "valid": "valid: the signature verifies (the signer is not on a configured trust list)",
    "invalid": "INVALID: the credentials do not verify",
    "none": "none: no Content Credentials in the file or beside it",
}


def _table(found: Credentials) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    state = found["state"]
    grid.add_row("file", escape(found["file"]))
    grid.add_row("credentials", f"[{_STATE_STYLE[state]}]{_STATE_TEXT[state]}[/]")
    if state == "none" and not found["problems"]:
        return grid
    where = found["manifest_store"] or ("embedded" if found["embedded"] else "-")
    grid.add_row("manifest store", escape(where))
    grid.add_row("active manifest", escape(found["active_manifest"] or "-"))
    grid.add_row("manifests", str(found["manifests"]))
    grid.add_row("claim generator", escape(found["claim_generator"] or "-"))
    signer = found["signer"]
    if signer:
        who = ", ".join(
            escape(str(v)) for v in (signer["common_name"], signer["issuer"], signer["alg"]) if v
        )
        grid.add_row("signed by", who + (f" at {escape(signer['time'])}" if signer["time"] else ""))
    grid.add_row("AI-generated", "yes" if found["ai_generated"] else "not stated")
    for key, value in found["generation"].items():
        grid.add_row(f"  {escape(key)}", escape(str(value)))
    for action in found["actions"]:
        detail = [action["agent"] or "", action["when"] or ""]
        if action["digital_source_type"]:
            detail.append(action["digital_source_type"].rsplit("/", 1)[-1])
        params = {k: v for k, v in action["parameters"].items() if k != "ingredients"}
        if params:
            detail.append(", ".join(f"{k}={v}" for k, v in params.items()))
        text = "  ".join(d for d in detail if d)
        grid.add_row(f"action {escape(action['action'])}", escape(text))
    for ingredient in found["ingredients"]:
        manifest = ingredient["active_manifest"]
        kept = "no manifest"
        if manifest:
            kept = f"manifest {manifest} ({'verified' if ingredient['verified'] else 'INVALID'})"
        title = ingredient["title"] or "?"
        relationship = ingredient["relationship"] or "?"
        grid.add_row(f"ingredient ({escape(relationship)})", escape(f"{title}: {kept}"))
    for problem in found["problems"]:
        grid.add_row("[red]problem[/]", escape(f"{problem['code']}: {problem['explanation']}"))
    return grid


def _check_table(check: SignerCheck) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("certificate", escape(check["subject"]))
    grid.add_row("issued by", escape(check["issuer"]))
    grid.add_row("algorithm", check["alg"])
    grid.add_row("valid until", check["not_after"])
    state = check["state"]
    grid.add_row("test signature", f"[{_STATE_STYLE[state]}]{_STATE_TEXT[state]}[/]")
    for problem in check["problems"]:
        grid.add_row("[red]problem[/]", escape(f"{problem['code']}: {problem['explanation']}"))
    return grid


@friendly
def provenance(
    path: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="A delivered file (video, image, playlist...)."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="A sidecar manifest store (default: FILE's stem + .c2pa, if any)."),
    ] = None,
    trust_anchors: Annotated[
        Path | None,
        typer.Option(help="PEM roots to trust (default: VIDGATE_C2PA_TRUST_ANCHORS)."),
    ] = None,
    require_trusted: Annotated[
        bool, typer.Option(help="Exit 1 unless the signer chains to a trust anchor.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check-signer",
            help="Instead of reading FILE: sign a test picture with the configured certificate "
            "(VIDGATE_C2PA_CERT, VIDGATE_C2PA_KEY) and verify it.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show and verify a file's Content Credentials (C2PA): who signed them, whether they mark
    it AI-generated, what was done to it. Exit 1 when they do not verify (or there are none)."""
    settings = Settings()
    if trust_anchors is not None:
        settings.c2pa_trust_anchors = trust_anchors
    if check:
        result = check_signer(settings)
        if json_output:
            print_json(result)
        else:
            out.print(_check_table(result))
        verified, trusted = result["verified"], result["trusted"]
    elif path is None:
        fail("give a FILE to read, or --check-signer", code="invalid_request", exit_code=EXIT_USAGE)
    else:
        found = read_credentials(path, manifest=manifest, trust_anchors=settings.c2pa_trust_anchors)
        if json_output:
            print_json(found)
        else:
            out.print(_table(found))
        verified, trusted = found["verified"], found["trusted"]
    if not verified or (require_trusted and not trusted):
        raise typer.Exit(EXIT_FAILED)
