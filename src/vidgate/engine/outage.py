"""Steps outlast a database outage.

A step that cannot reach the database (a PostgreSQL restart or failover, a dropped connection,
an exhausted pool, SQLite's writer lock held too long) is run again with backoff instead of
failing its workflow: a workflow that raised ends in DBOS's ``ERROR`` state and its job would
stay ``in_progress`` for ever. Running a step again is what recovery after a crash does anyway
(every step is idempotent; a create that may have been sent is looked up by its reference, see
``workflow.submit_step``). Any other error is raised at once, as before.

The backoff starts at half a second and grows by half each time; the 15 tries span about five
minutes, after which DBOS raises ``DBOSMaxStepRetriesExceeded`` with the errors.
(``bench/chaos.py restart-postgres`` is the run that found it.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
from dbos import DBOS

__all__ = ["OUTAGE_ATTEMPTS", "database_unreachable", "step"]

P = ParamSpec("P")
R = TypeVar("R")

OUTAGE_ATTEMPTS = 15
_FIRST_WAIT = 0.5
_GROWTH = 1.5


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be used right now, rather than that the
    statement was wrong: a lost or refused connection, a pool with no free connection, a
    locked SQLite file."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError)


def step(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``DBOS.step(name=…)``, run again while the database is unreachable."""
    return DBOS.step(
        name=name,
        retries_allowed=True,
        max_attempts=OUTAGE_ATTEMPTS,
        interval_seconds=_FIRST_WAIT,
        backoff_rate=_GROWTH,
        should_retry=database_unreachable,
    )
