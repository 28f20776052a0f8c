"""``vidgate serve``: the gateway — HTTP API and worker in one process by default."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from ..settings import Settings
from ..storage.select import storage_name
from ._console import err, friendly
from .worker import log_to_stderr


@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="API only: queue jobs for `vidgate worker` processes (PostgreSQL at scale); "
            "the workers run the jobs and send the client webhooks.",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API: OpenAI-compatible /v1/videos for many tenants, plus /docs, /metrics."""
    import uvicorn

    from ..server import create_app

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("vidgate.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    settings = Settings()
    log_to_stderr(settings)  # jobs run here, cancels, webhook failures (the access log is apart)
    app = create_app(settings, worker=not no_worker)
    mode = "API only" if no_worker else "API + worker"
    err.print(
        f"vidgate serve on http://{host}:{port} ({mode}, storage {storage_name(settings)}); "
        "docs at /docs"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
