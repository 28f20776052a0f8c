"""Polling every task a process waits on, per provider, in batches.

A poll step does not call its provider itself: it hands its task to this process's poller for
that provider (``Pollers.watch``) and waits. The poller polls all the tasks due in one round with
one ``Provider.poll_many`` call — a few pages of the provider's list endpoint where it has one,
else one status call per task, ``VIDGATE_POLL_CONCURRENCY`` at a time — and wakes a step
(``Wakeups.wake``, reason ``"changed"``) only when its task's state changed or its progress
moved by ``PROGRESS_STEP``. An unchanged poll writes nothing durable: no checkpoint, no progress
row, and no request-log row (the calls of a round are collected, and only those that showed a
task's new state, and every failed call, are written; see ``requestlog.collect``).

Each task keeps its adaptive interval (the provider's ``poll_after`` hint, else backing off while
it is queued, up to ``VIDGATE_POLL_MAX_INTERVAL``, else ``VIDGATE_POLL_INTERVAL``); a round polls
every task due within half a base interval, and rounds are at least a quarter of a base interval
apart, so tasks fall into shared rounds. A task its provider lists (``Provider.lists``) costs no
call of its own, so it is polled every base interval whatever its state: a listed task that is
done is noticed within about one base interval. A transient error is retried by the poller with
the provider's retry policy; an error that is not, or that outlasts the policy, is handed to the
step, which polls once more itself (and fails the attempt if the error stays).

Nothing here is durable: a step that runs again after a crash watches its task again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .. import requestlog
from ..exceptions import VidgateError
from ..providers.base import PollResult, Provider, TaskState, TaskStatus
from ..settings import Settings
from .retry import RetryPolicy

__all__ = ["PROGRESS_STEP", "Pollers", "Watch", "next_interval"]

log = logging.getLogger("vidgate.engine")

#: How much of a task's progress (0 to 1) must change before it counts as a change.
PROGRESS_STEP = 0.1


def next_interval(status: TaskStatus, interval: float, settings: Settings) -> float:
    """The wait before the next poll: the provider's hint, else backing off while the task is
    queued, else the base interval."""
    if status.poll_after is not None:
        return status.poll_after
    if status.state is TaskState.QUEUED:
        return min(interval * 1.5, settings.poll_max_interval)
    return settings.poll_interval


def changed(before: TaskStatus | None, after: TaskStatus) -> bool:
    """Whether ``after`` is worth waking the step for."""
    if before is None or before.state is not after.state:
        return True
    moved = (after.progress or 0.0) - (before.progress or 0.0)
    return abs(moved) >= PROGRESS_STEP


@dataclass(eq=False, slots=True)
class Watch:
    """One task a step waits on: what the poller last saw, and when it polls it next."""

    remote_id: str
    workflow_id: str
    job_id: str
    attempt_id: str
    interval: float
    due: float
    #: The last status the step was woken for (the baseline of ``changed``).
    status: TaskStatus | None = None
    #: The last status seen at all.
    latest: TaskStatus | None = None
    #: An error handed to the step.
    error: VidgateError | None = None
    failures: int = 0
    #: A change (or error) the step has not taken yet.
    fresh: bool = False

    def take(self) -> TaskStatus | VidgateError:
        """The change the step was woken for (clears it)."""
        self.fresh = False
        error, self.error = self.error, None
        if error is not None:
            return error
        assert self.status is not None
        return self.status


class _Poller:
    """One provider's watched tasks on one event loop, and the task that polls them."""

    def __init__(self, owner: Pollers, provider: Provider, loop: asyncio.AbstractEventLoop):
        self.owner = owner
        self.provider = provider
        self.loop = loop
        self.watches: dict[Watch, None] = {}
        self.kick = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.last_round = -1e9

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(
                self._run(), name=f"vidgate-poller-{self.provider.name}"
            )

    async def _run(self) -> None:
        settings = self.owner.settings
        gap = settings.poll_interval / 4
        while self.watches:
            now = self.loop.time()
            live = [w.due for w in self.watches if w.latest is None or not w.latest.state.terminal]
            start = max(min(live, default=now + settings.poll_interval), self.last_round + gap)
            if start > now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.kick.wait(), start - now)
                self.kick.clear()
                continue
            self.last_round = now
            try:
                await self._round(now + settings.poll_interval / 2)
            except Exception:  # never let one bad round end the polling of every task
                log.exception("a poll round at %s failed", self.provider.name)

    async def _round(self, horizon: float) -> None:
        # A task that ended never changes again: it is not polled while its step finishes.
        live = [w for w in self.watches if w.latest is None or not w.latest.state.terminal]
        due = [w for w in live if w.due <= horizon]
        if not due:
            return
        others = [w.remote_id for w in live if w.due > horizon]
        asked = list(dict.fromkeys(w.remote_id for w in due))
        shared: VidgateError | None = None
        with requestlog.collect() as calls:
            try:
                answers = await self.provider.poll_many(asked, also=others)
            except VidgateError as exc:  # the list itself failed: every task asked had it
                answers, shared = dict.fromkeys(asked, exc), exc
        if shared is not None:
            log.warning("polling %d %s tasks failed: %s", len(asked), self.provider.name, shared)
        self.owner.rounds += 1
        self.owner.calls += len(calls)
        now = self.loop.time()
        shown: list[Watch] = []  # the tasks whose call is worth a request-log row
        for watch in list(self.watches):
            answer = answers.get(watch.remote_id)
            if answer is not None and self._apply(watch, answer, now, shared is None):
                shown.append(watch)
        self._record(calls, shown)

    def _apply(self, watch: Watch, answer: PollResult, now: float, own: bool = True) -> bool:
        """Take one answer for ``watch``, waking its step for a change; True if the answer is
        worth a request-log row (a new state, or an error handed to the step)."""
        owner = self.owner
        if isinstance(answer, VidgateError):
            watch.failures += 1
            policy = owner.policy(self.provider.name)
            if answer.retryable and watch.failures < policy.max_attempts:
                wait = policy.delay(watch.failures, answer)
                watch.due = now + wait
                if own and owner.note is not None:  # the task's own error: in its job's history
                    owner.note(
                        watch.job_id,
                        f"status check failed ({answer.code}: {answer}); retry "
                        f"{watch.failures}/{policy.max_attempts - 1} in {wait:.1f} s",
                    )
                return False
            watch.error, watch.fresh = answer, True
            watch.due = now + watch.interval
            owner.wake(watch.workflow_id, "changed")
            return True
        watch.failures = 0
        watch.latest = answer
        watch.interval = next_interval(answer, watch.interval, owner.settings)
        if self.provider.lists(watch.remote_id) and answer.poll_after is None:
            watch.interval = min(watch.interval, owner.settings.poll_interval)
        watch.due = now + watch.interval
        if not changed(watch.status, answer):
            return False
        moved = watch.status is None or watch.status.state is not answer.state
        watch.status, watch.fresh = answer, True
        owner.changes += 1
        owner.wake(watch.workflow_id, "changed")
        return moved

    def _record(self, calls: list[requestlog.CallRecord], shown: list[Watch]) -> None:
        """Write the calls that showed a new state, each to its task's job, and every failure."""
        listing = next((c for c in calls if c.task is None and not c.failed), None)
        by_task = {w.remote_id: w for w in shown}
        every = {w.remote_id: w for w in self.watches}
        for call in calls:
            watch = by_task.get(call.task) if call.task is not None else None
            if watch is None and call.failed and call.task is not None:
                watch = every.get(call.task)  # a task's own failed call: to its job
            if watch is not None:
                requestlog.write(call, watch.job_id, watch.attempt_id)
            elif call.failed:
                requestlog.write(call)
        if listing is not None:
            for watch in shown:
                if not any(c.task == watch.remote_id for c in calls):
                    requestlog.write(listing, watch.job_id, watch.attempt_id)


class Pollers:
    """This process's pollers: one per provider and event loop, started by the first watch."""

    def __init__(
        self,
        settings: Settings,
        wake: Callable[[str, str], None],
        policy: Callable[[str], RetryPolicy],
        note: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.wake = wake
        self.policy = policy
        #: Writes a line into a job's history (a retried status check of its task).
        self.note = note
        self._pollers: dict[tuple[str, asyncio.AbstractEventLoop], _Poller] = {}
        # Counters for tests and the bench.
        self.rounds = 0
        self.calls = 0
        self.changes = 0

    def watch(
        self,
        provider: Provider,
        remote_id: str,
        *,
        workflow_id: str,
        job_id: str,
        attempt_id: str,
        interval: float,
        delay: float = 0.0,
    ) -> Watch:
        """Poll ``remote_id`` from ``delay`` seconds on, waking ``workflow_id`` when it changes,
        until ``unwatch``. Call it on the loop the step runs on."""
        loop = asyncio.get_running_loop()
        key = (provider.name, loop)
        for stale in [k for k in self._pollers if k[1].is_closed()]:
            del self._pollers[stale]
        poller = self._pollers.get(key)
        if poller is None:
            poller = self._pollers[key] = _Poller(self, provider, loop)
        watch = Watch(
            remote_id,
            workflow_id,
            job_id,
            attempt_id,
            interval=interval,
            due=loop.time() + max(delay, 0.0),
        )
        poller.watches[watch] = None
        poller.kick.set()
        poller.ensure_running()
        return watch

    def observe(self, provider: Provider, watch: Watch, status: TaskStatus) -> None:
        """The step polled ``watch``'s task itself (a webhook woke it): the poller's baseline."""
        watch.status = watch.latest = status
        watch.fresh = False
        watch.interval = next_interval(status, watch.interval, self.settings)
        watch.due = asyncio.get_running_loop().time() + watch.interval

    def unwatch(self, provider: Provider, watch: Watch) -> None:
        poller = self._pollers.get((provider.name, asyncio.get_running_loop()))
        if poller is not None:
            poller.watches.pop(watch, None)

    @property
    def watching(self) -> int:
        return sum(len(p.watches) for p in self._pollers.values())

    async def aclose(self) -> None:
        """Stop the pollers (the engine is stopping); the steps end with their workflows."""
        tasks = [p.task for p in self._pollers.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        running = asyncio.get_running_loop()
        for task in tasks:
            if task.get_loop() is running:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._pollers.clear()
