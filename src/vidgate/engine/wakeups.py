"""Waking waiting workflows without a database read per waiter.

Thousands of jobs wait at once: a job for its attempt's result, an attempt for its provider task.
Waiting through DBOS alone costs a read per waiter per second (a workflow handle's
``get_result`` polls its row; on SQLite DBOS's notification listener runs a transaction per
waiting ``recv``). Here a waiter waits on an in-memory event instead, and one watcher per event
loop checks for everyone at once, every ``VIDGATE_WAKE_INTERVAL`` seconds: one query for the
unconsumed DBOS messages addressed to any waiter, one for the workflows whose status a waiter
watches (an attempt that ended, a workflow that was cancelled). Two queries per interval per
process, whatever the number of waiters, and none while nobody waits. A process that knows of an
event first hand (``Engine.notify`` and ``Engine.cancel`` here, an attempt's last message to its
job in this process) calls ``wake`` and the waiter runs at once.

A waiter's wake-up is a hint, never the record: what the waiter then reads durably (a ``recv``,
a poll of the provider) decides. A missed hint costs time (the waiter's own timeout), never a
wrong result. This reads DBOS's system tables (``notifications``, ``workflow_status``) through
DBOS's own engine and table definitions (``dbos>=3.4,<4``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

__all__ = ["ENDED", "Wakeups"]

log = logging.getLogger("vidgate.engine")

#: The DBOS statuses of a workflow that no longer runs.
ENDED = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
#: Ids per ``IN`` list (well under SQLite's and PostgreSQL's bind-parameter limits).
_CHUNK = 500


@dataclass(eq=False)
class _Waiter:
    workflow_id: str
    topic: str | None
    statuses: Mapping[str, frozenset[str]]
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None

    def fire(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.event.set()


class Wakeups:
    """The waiters of one process and the watcher that wakes them (see the module docstring)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._waiters: set[_Waiter] = set()
        self._by_id: dict[str, set[_Waiter]] = {}
        self._lock = threading.Lock()  # ``wake`` may come from another thread
        self._watchers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._kick: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self.checks = 0  # watcher passes that queried the database (for tests and the bench)

    async def wait(
        self,
        workflow_id: str,
        *,
        timeout: float,
        topic: str | None = None,
        statuses: Mapping[str, Iterable[str]] | None = None,
        check_now: bool = False,
    ) -> str | None:
        """Wait up to ``timeout`` seconds until ``workflow_id`` has an unconsumed DBOS message on
        ``topic``, or a workflow named in ``statuses`` has one of the statuses given for it, or
        ``wake`` names ``workflow_id``. Returns why it woke (``"message"``, ``"status"``, or the
        reason given to ``wake``), or None on timeout. ``check_now`` runs a check at once instead
        of at the watcher's next pass (for a waiter whose event may be in the past: a replay)."""
        if timeout <= 0:
            return None
        loop = asyncio.get_running_loop()
        waiter = _Waiter(
            workflow_id,
            topic,
            {wf: frozenset(s) for wf, s in (statuses or {}).items()},
            loop,
        )
        with self._lock:
            self._waiters.add(waiter)
            self._by_id.setdefault(workflow_id, set()).add(waiter)
        self._ensure_watcher(loop)
        if check_now:
            self._kick[loop].set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.event.wait(), timeout)
        finally:
            with self._lock:
                self._waiters.discard(waiter)
                same = self._by_id.get(workflow_id)
                if same is not None:
                    same.discard(waiter)
                    if not same:
                        del self._by_id[workflow_id]
        return waiter.reason

    def wake(self, workflow_id: str, reason: str = "woken") -> None:
        """Wake every waiter of ``workflow_id`` in this process now. Safe from any thread."""
        with self._lock:
            waiters = list(self._by_id.get(workflow_id, ()))
        for waiter in waiters:
            if not waiter.loop.is_closed():
                waiter.loop.call_soon_threadsafe(waiter.fire, reason)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def aclose(self) -> None:
        """Stop the watchers (the engine is stopping); waiters end at their own timeouts."""
        for task in list(self._watchers.values()):
            task.cancel()
        for task in list(self._watchers.values()):
            if task.get_loop() is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watchers.clear()
        self._kick.clear()

    # -- the watcher ---------------------------------------------------------------------------

    def _ensure_watcher(self, loop: asyncio.AbstractEventLoop) -> None:
        task = self._watchers.get(loop)
        if task is None or task.done():
            self._kick[loop] = asyncio.Event()
            self._watchers[loop] = loop.create_task(self._watch(loop), name="vidgate-wakeups")

    async def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        kick = self._kick[loop]
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), self.interval)
            kick.clear()
            with self._lock:
                mine = [w for w in self._waiters if w.loop is loop]
            waiters = [w for w in mine if not w.event.is_set()]
            if not waiters:
                if not mine:
                    del self._watchers[loop]
                    return
                continue
            try:
                messages, statuses = await asyncio.to_thread(_check, waiters)
            except Exception as exc:  # a database hiccup: the waiters' own timeouts remain
                log.warning("checking for wake-ups failed: %s", exc)
                continue
            self.checks += 1
            for waiter in waiters:
                if waiter.topic is not None and (waiter.workflow_id, waiter.topic) in messages:
                    waiter.fire("message")
                elif any(statuses.get(wf) in wanted for wf, wanted in waiter.statuses.items()):
                    waiter.fire("status")


def _check(waiters: list[_Waiter]) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """One read of DBOS's tables for every waiter: unconsumed messages, then statuses."""
    from dbos._dbos import _get_dbos_instance

    sys_db = _get_dbos_instance()._sys_db
    notifications = sys_db.tables.notifications
    workflow_status = sys_db.tables.workflow_status
    by_topic = {w.workflow_id for w in waiters if w.topic is not None}
    topics = {w.topic for w in waiters if w.topic is not None}
    watched = {wf for w in waiters for wf in w.statuses}
    messages: set[tuple[str, str]] = set()
    statuses: dict[str, str] = {}
    with sys_db.engine.connect() as conn:
        for chunk in _chunks(by_topic):
            rows = conn.execute(
                sa.select(notifications.c.destination_uuid, notifications.c.topic)
                .where(
                    notifications.c.destination_uuid.in_(chunk),
                    notifications.c.topic.in_(topics),
                    notifications.c.consumed == sa.false(),
                )
                .distinct()
            )
            messages.update((str(r[0]), str(r[1])) for r in rows)
        for chunk in _chunks(watched):
            rows = conn.execute(
                sa.select(workflow_status.c.workflow_uuid, workflow_status.c.status).where(
                    workflow_status.c.workflow_uuid.in_(chunk),
                    workflow_status.c.status.in_(ENDED),
                )
            )
            statuses.update((str(r[0]), str(r[1])) for r in rows)
    return messages, statuses


def _chunks(ids: set[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]
