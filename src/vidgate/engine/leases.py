"""Worker leases: every engine process heartbeats; live ones recover the jobs of dead ones.

DBOS resumes a process's own unfinished workflows when it restarts with the same executor id,
but nothing takes over the work of a process that never comes back (DBOS leaves that to its paid
Conductor). So each engine process writes a heartbeat row every ``heartbeat_interval`` seconds.
A process whose heartbeat is older than ``lease_seconds``, or that stopped cleanly, is claimed by
exactly one live process (an atomic ``UPDATE … WHERE state = …``), which asks DBOS to re-enqueue
its pending workflows; any live worker then dequeues them.

The usual lease caveat holds: a process that stalls longer than the lease without dying may see
its jobs taken over while it still runs them. Steps are written to survive that (submit is
reconciled by reference, store writes are idempotent), but keep the lease well above the
longest stall you expect.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

import sqlalchemy as sa

from .._clock import utcnow as _now
from ..db import workers

__all__ = ["Leases"]

log = logging.getLogger("vidgate.leases")


class Leases:
    def __init__(self, engine: sa.Engine, executor_id: str, *, lease_seconds: float) -> None:
        self.engine = engine
        self.executor_id = executor_id
        self.lease = timedelta(seconds=lease_seconds)

    def heartbeat(self) -> None:
        now = _now()
        with self.engine.begin() as conn:
            updated = conn.execute(
                workers.update()
                .where(workers.c.executor_id == self.executor_id)
                .values(heartbeat_at=now, state="alive", host=socket.gethostname(), pid=os.getpid())
            ).rowcount
            if updated == 0:
                conn.execute(
                    workers.insert().values(
                        executor_id=self.executor_id,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        state="alive",
                        started_at=now,
                        heartbeat_at=now,
                    )
                )

    def stopped(self) -> None:
        """A clean exit: live processes may take this one's unfinished work at once."""
        with self.engine.begin() as conn:
            conn.execute(
                workers.update()
                .where(workers.c.executor_id == self.executor_id)
                .values(state="stopped", heartbeat_at=_now())
            )

    def claim_dead(self) -> list[str]:
        """Executor ids this process now owns the recovery of (each claimed by one process)."""
        cutoff = _now() - self.lease
        with self.engine.connect() as conn:
            candidates = [
                row.executor_id
                for row in conn.execute(
                    sa.select(workers.c.executor_id).where(
                        workers.c.executor_id != self.executor_id,
                        sa.or_(
                            workers.c.state == "stopped",
                            sa.and_(workers.c.state == "alive", workers.c.heartbeat_at < cutoff),
                        ),
                    )
                )
            ]
        claimed = []
        for executor_id in candidates:
            with self.engine.begin() as conn:
                won = conn.execute(
                    workers.update()
                    .where(
                        workers.c.executor_id == executor_id,
                        sa.or_(
                            workers.c.state == "stopped",
                            sa.and_(workers.c.state == "alive", workers.c.heartbeat_at < cutoff),
                        ),
                    )
                    .values(state="recovered", recovered_by=self.executor_id)
                ).rowcount
            if won == 1:
                log.info("claimed the unfinished work of executor %s", executor_id)
                claimed.append(executor_id)
        return claimed

    def listing(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(workers)).mappings()]
