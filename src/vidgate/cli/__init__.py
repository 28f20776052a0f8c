"""The ``vidgate`` command line. One module per command group; ``main`` is the entry point."""

from __future__ import annotations

import typer

from . import (
    budgets,
    catalog_cmds,
    estimate,
    generate,
    jobs,
    keys,
    probe,
    provenance,
    quarantine,
    safety,
    serve,
    simulator,
    spend,
    stats,
    storage,
    templates,
    tenants,
    worker,
)
from ._console import check_home, friendly

app = typer.Typer(
    name="vidgate",
    help="Generate AI video through one API over many providers, as durable jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
@friendly
def _every_command() -> None:
    """Generate AI video through one API over many providers, as durable jobs."""
    check_home()  # an unusable VIDGATE_HOME is one clear line for every command


app.command("generate")(generate.generate)
app.command("estimate")(estimate.estimate)
app.add_typer(templates.app, name="templates")
app.command("models")(catalog_cmds.models)
app.command("providers")(catalog_cmds.providers)
app.add_typer(jobs.app, name="jobs")
app.command("probe")(probe.probe_cmd)
app.command("provenance")(provenance.provenance)
app.command("worker")(worker.worker)
app.command("simulator")(simulator.simulator)
app.command("serve")(serve.serve)
app.add_typer(keys.app, name="keys")
app.add_typer(tenants.app, name="tenants")
app.add_typer(budgets.app, name="budgets")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(safety.app, name="safety")
app.add_typer(storage.app, name="storage")
app.command("spend")(spend.spend)
app.add_typer(stats.app, name="stats")


def main() -> None:
    app()
