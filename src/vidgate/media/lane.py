"""The media lane: probe, validation and thumbnails in a pool of processes, off the event loop.

A worker's event loop submits and polls thousands of tasks; decoding video on it (or in its
threads, which hold the GIL in PyAV's Python parts and share the worker's memory) stalls them
all. :class:`MediaLane` runs media functions in a ``ProcessPoolExecutor`` of ``workers``
processes and queues callers in front of it:

- the pool is created on first use (a process that never validates never starts one) with the
  ``spawn`` start method, so no child is forked from a process with live threads (DBOS's, the
  event loop's executor) holding locks;
- at most ``workers`` calls are in the pool at once: the rest wait in arrival order on a gate
  that every event loop of the process shares (DBOS may run steps on more than one), so a
  burst of completions waits in line (and says so through ``on_queue``) instead of piling
  pickled work into the pool, and nothing else on the loop waits for it;
- a child that dies (killed, out of memory) breaks the pool: it is replaced and the call is
  tried once more on the new one; a second death raises :class:`MediaUnreadable`;
- :meth:`shutdown` stops the processes with the engine.

Functions sent to the lane must be top-level (importable by name in the child) and take and
return plain picklable data: :func:`inspect_file` and :func:`thumbnail_file`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from vidgate.exceptions import MediaUnreadable, VidgateError

__all__ = ["MediaLane", "inspect_file", "thumbnail_file", "unpack"]

T = TypeVar("T")

#: A child is replaced after this many calls, so a leak in a codec cannot grow without bound.
MAX_TASKS_PER_CHILD = 200


def inspect_file(path: str, thumbnail_to: str | None) -> dict[str, Any]:
    """Validate the video at ``path`` in one pass (:func:`vidgate.media.inspect.inspect`) and
    write its thumbnail to ``thumbnail_to``. Runs in a lane process.

    Returns plain data: ``{"info": MediaInfo as JSON}`` or ``{"error": VidgateError.to_dict()}``,
    with ``pid``, ``started`` and ``ended`` (wall-clock seconds) of the work in the child.
    """
    from vidgate.media.inspect import inspect

    started = time.time()
    result: dict[str, Any]
    try:
        info = inspect(path, thumbnail_to=thumbnail_to)
        result = {"info": info.model_dump(mode="json")}
    except VidgateError as exc:
        result = {"error": exc.to_dict()}
    return {**result, "pid": os.getpid(), "started": started, "ended": time.time()}


def thumbnail_file(path: str, out: str) -> dict[str, Any]:
    """Write the thumbnail of the video at ``path`` to ``out`` (when validation's own is not on
    this host). Runs in a lane process; returns ``{"size": [w, h]}`` or ``{"error": …}``."""
    from vidgate.media.thumbnail import thumbnail

    started = time.time()
    result: dict[str, Any]
    try:
        result = {"size": list(thumbnail(Path(path), Path(out)))}
    except VidgateError as exc:
        result = {"error": exc.to_dict()}
    return {**result, "pid": os.getpid(), "started": started, "ended": time.time()}


def unpack(result: dict[str, Any]) -> dict[str, Any]:
    """A lane function's result, or raise its error as :class:`MediaUnreadable` (the only error
    they return)."""
    error = result.get("error")
    if error is not None:
        raise MediaUnreadable(str(error.get("message", "")), details=error.get("details") or {})
    return result


class _Gate:
    """A first-come, first-served counting semaphore that async callers on any event loop (or
    thread) share: the bound holds for the whole process, not per loop."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    def busy(self) -> bool:
        with self._lock:
            return self._free == 0 or bool(self._waiters)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued and waiter[1].done() and not waiter[1].cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, future = self._waiters.popleft()
        try:
            loop.call_soon_threadsafe(self._hand_over, future)
        except RuntimeError:  # that loop is closed: its waiter is gone
            self.release()

    def _hand_over(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()
        else:
            future.set_result(None)


class MediaLane:
    """A bounded, lazily started pool of media processes (see the module docstring)."""

    def __init__(self, workers: int, *, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"a media lane needs at least one worker, not {workers}")
        self.workers = workers
        self._start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._gate = _Gate(workers)
        self.waiting = 0  # calls queued in front of the pool right now
        self.running = 0  # calls in the pool right now

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context(self._start_method),
                    max_tasks_per_child=MAX_TASKS_PER_CHILD,
                )
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        on_queue: Callable[[int], None] | None = None,
    ) -> T:
        """``fn(*args)`` in a lane process. When every process is busy, ``on_queue`` is called
        with the number of calls already waiting (this one not counted) before this one waits."""
        gate = self._gate
        if gate.busy() and on_queue is not None:
            on_queue(self.waiting)
        self.waiting += 1
        try:
            await gate.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            loop = asyncio.get_running_loop()
            for tries_left in (1, 0):
                pool = self._executor()
                try:
                    return await loop.run_in_executor(pool, fn, *args)
                except BrokenProcessPool as exc:
                    self._replace(pool)
                    if not tries_left:
                        raise MediaUnreadable(
                            "a media process died twice on this work (killed, or out of memory)",
                            details={"reason": "media_process_died"},
                        ) from exc
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self.running -= 1
            gate.release()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the processes (waiting for the calls in them when ``wait``); the next call
        starts a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
