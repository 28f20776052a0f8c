"""``vidgate worker``: take queued jobs and run them until stopped."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from ..engine import Engine
from ..settings import Settings
from ._console import err, friendly


@friendly
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs this worker runs at once.", min=1)
    ] = None,
    executor_id: Annotated[
        str | None,
        typer.Option(help="Stable id of this worker; a restart with the same id resumes its jobs."),
    ] = None,
) -> None:
    """Run queued jobs (from `vidgate generate --detach`) and resume unfinished ones."""
    overrides: dict[str, object] = {}
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    if executor_id is not None:
        overrides["executor_id"] = executor_id
    settings = Settings(**overrides)  # type: ignore[arg-type]
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Engine(settings, worker=True):
        err.print(
            f"vidgate worker {settings.resolved_executor_id} ready "
            f"(concurrency {settings.worker_concurrency}, database {settings.resolved_home})"
        )
        await stop.wait()
        err.print("stopping: unfinished jobs resume when a worker with this id starts again")
