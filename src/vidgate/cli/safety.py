"""``vidgate safety decisions``: the content-safety audit, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..db import make_engine, upgrade
from ..safety import audit
from ..settings import Settings
from ._console import friendly, out, print_json

app = typer.Typer(help="The content-safety audit: every decision the checks made.")


@app.command("decisions")
@friendly
def decisions(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's decisions.")] = None,
    job: Annotated[str | None, typer.Option(help="Only this job's decisions.")] = None,
    stage: Annotated[
        str | None, typer.Option(help="prompt, input_image, provider or output.")
    ] = None,
    action: Annotated[str | None, typer.Option(help="block, flag or allow.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 50,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Safety decisions: stage, action, categories, moderators — never the offending text."""
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url, synchronous=settings.sqlite_synchronous)
    upgrade(engine)
    rows = audit.query(engine, tenant=tenant, job_id=job, stage=stage, action=action, limit=limit)
    if json_output:
        print_json([r.to_json() for r in rows])
        return
    table = Table(title="safety decisions")
    for column in ("when", "tenant", "job", "stage", "action", "categories", "moderator"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.tenant),
            r.job_id or "-",
            r.stage,
            r.action,
            ", ".join(r.categories) or "-",
            escape(r.moderator),
        )
    out.print(table)
