"""A database outage mid-job: the steps that could not reach the database run again once it is
back, and the job ends as it would have (``bench/chaos.py restart-postgres`` found jobs left
``in_progress`` for ever when a PostgreSQL restart failed one of their steps).

The outage is real: the test database stops accepting connections and every session on it is
ended, until a step has been seen failing on it and being retried.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, small_request
from tests.support import wait_until
from vidgate.engine import Engine
from vidgate.engine.outage import database_unreachable
from vidgate.providers.simulated import created
from vidgate.settings import Settings
from vidgate.types import JobStatus, Phase


class _StepMetOutage(logging.Handler):
    """Sets ``seen`` when DBOS says a step failed on the outage: it runs the step again, or (as
    it did before the fix) the workflow ended with the error."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "automatically retried" in message or "in asynchronous workflow" in message:
            self.seen.set()


def _set_connections(database: str, allowed: bool) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


async def test_a_job_outlives_a_database_outage(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("the outage is a PostgreSQL database refusing connections")
    # Long enough that the outage begins while the task runs, however slow the machine: with
    # 1 s, a loaded CI machine could finish the job before the database went away.
    settings = Settings(simulated_latency=4.0)
    database = sa.make_url(settings.resolved_database_url).database
    assert database
    retried = _StepMetOutage()
    dbos_log = logging.getLogger("dbos")
    dbos_log.addHandler(retried)
    try:
        async with Engine(settings) as engine:
            job = await engine.submit(small_request("a fox through an outage"))
            await asyncio.to_thread(
                wait_until,
                lambda: engine.get(job.id).phase is Phase.GENERATING,
                timeout=30,
                what="the job to reach the provider",
            )
            _set_connections(database, allowed=False)
            try:
                seen = await asyncio.to_thread(retried.seen.wait, 60)
            finally:
                _set_connections(database, allowed=True)
            assert seen, "no step was run again through the outage"
            ended = engine.wait(job.id, interval=0.05)
            done = await asyncio.wait_for(ended, timeout=60)  # before the fix: for ever
            creates = [
                c["reference"]
                for c in created(settings.resolved_home)
                if c["reference"].startswith(job.id)
            ]
    finally:
        dbos_log.removeHandler(retried)
    assert done.status is JobStatus.COMPLETED, done.error
    assert creates == [f"{job.id}-1"], "one create, however often its step ran"


def test_only_an_unreachable_database_makes_a_step_run_again() -> None:
    refused = sa.exc.OperationalError("SELECT 1", {}, Exception("connection failed"))
    assert database_unreachable(refused)
    assert database_unreachable(sa.exc.TimeoutError("QueuePool limit reached"))
    assert not database_unreachable(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not database_unreachable(ValueError("a bug"))
