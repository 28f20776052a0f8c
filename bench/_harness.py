"""What the process-level benches share: percentiles, waiting for a server, and sampling a
process's (and its children's) CPU and memory from /proc."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ProcessSampler", "percentile", "wait_healthy"]

_TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


async def wait_healthy(url: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout:g} s")
            await asyncio.sleep(0.2)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def rss_mib(pid: int) -> float:
    """The resident set of ``pid`` in MiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class ProcessSampler:
    """Samples ``pid`` and its children (a media lane's processes) every ``interval`` seconds
    in a thread: CPU seconds (the children's are summed over every child seen, so a replaced
    child still counts) and peak resident set."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid, self.interval = pid, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.started = 0.0
        self.ended = 0.0
        self.cpu0 = 0.0
        self.cpu = 0.0
        self.children_cpu: dict[int, float] = {}
        self.peak_rss = 0.0
        self.peak_rss_with_children = 0.0
        self.samples = 0

    def start(self) -> None:
        first = _stat(self.pid)
        self.cpu0 = self.cpu = first[1] if first else 0.0
        self.started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.ended = time.monotonic()

    def _children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None and stat[0] == self.pid:
                    found.append(int(entry.name))
        return found

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            own = _stat(self.pid)
            if own is None:
                return
            self.cpu = own[1]
            rss = rss_mib(self.pid)
            total = rss
            for child in self._children():
                stat = _stat(child)
                if stat is not None:
                    self.children_cpu[child] = stat[1]
                total += rss_mib(child)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_rss_with_children = max(self.peak_rss_with_children, total)
            self.samples += 1

    def summary(self) -> dict[str, Any]:
        wall = (self.ended or time.monotonic()) - self.started
        used = self.cpu - self.cpu0
        children = sum(self.children_cpu.values())
        return {
            "wall_s": round(wall, 1),
            "cpu_s": round(used, 1),
            "cpu_percent": round(100 * used / wall, 1) if wall else None,
            "children_cpu_s": round(children, 1),
            "peak_rss_mib": round(self.peak_rss, 1),
            "peak_rss_with_children_mib": round(self.peak_rss_with_children, 1),
        }
