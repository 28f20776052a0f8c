"""``vidgate worker``: take queued jobs and run them until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import sqlalchemy as sa
import typer

from .._logging import CurrentStderr
from ..engine import Engine
from ..settings import Settings
from ..storage.select import storage_name
from ._console import err, friendly


@friendly
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Jobs this worker has in flight at once (default 1000).", min=1),
    ] = None,
    executor_id: Annotated[
        str | None,
        typer.Option(
            help="Stable id of this worker: a restart with the same id resumes its jobs at once "
            "(default: random; then live workers take them over once its lease lapses)."
        ),
    ] = None,
) -> None:
    """Run queued jobs (from `vidgate generate --detach` or `serve --no-worker`), resume
    unfinished ones, and send the client webhooks jobs queue."""
    overrides: dict[str, object] = {}
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    if executor_id is not None:
        overrides["executor_id"] = executor_id
    settings = Settings(**overrides)  # type: ignore[arg-type]
    log_to_stderr(settings)
    asyncio.run(_serve(settings))


def redacted_database_url(settings: Settings) -> str:
    """The database URL as it may be shown: any password replaced by ``***``."""
    return sa.make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def log_to_stderr(settings: Settings) -> None:
    """vidgate's own log lines (a job started / ended, a cancel, webhook failures, takeovers) on
    stderr, at INFO (or DEBUG with ``VIDGATE_LOG_LEVEL=DEBUG``). Once per process."""
    logger = logging.getLogger("vidgate")
    if not any(isinstance(h, CurrentStderr) for h in logger.handlers):
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(min(logging.INFO, logging.getLevelName(settings.log_level.upper())))


async def _serve(settings: Settings) -> None:
    stable = settings.executor_id is not None  # given, not made up for this process
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Engine(settings, worker=True):
        me = settings.resolved_executor_id
        lease = f"{settings.lease_seconds:g} s"
        err.print(
            f"vidgate worker {me} ready (concurrency {settings.worker_concurrency}, "
            f"database {redacted_database_url(settings)}, storage {storage_name(settings)})"
        )
        if stable:
            err.print(
                f"if this worker dies, restarting it with --executor-id {me} resumes its jobs at "
                f"once; otherwise live workers take them over once its lease lapses ({lease})"
            )
        else:
            err.print(
                f"random executor id: if this worker dies, live workers take its jobs over once "
                f"its lease lapses ({lease}); only a stable --executor-id (or "
                "VIDGATE_EXECUTOR_ID) lets a restart resume them at once"
            )
        await stop.wait()
        err.print(
            "stopping: a live worker (or the next one to start) takes over this worker's "
            "unfinished jobs"
            + (f", as does this one restarted with --executor-id {me}" if stable else "")
        )
