"""What the soak and chaos runs share: a whole vidgate deployment on loopback, jobs through its
gateway, and the counts that say whether anything was lost, stuck or sent twice.

- ``Simulator``: the provider simulator (``vidgate.simulator``) served by uvicorn in a thread of
  this process, on a fixed port, with ``generic_renders`` (one render per output shape) and an
  optional fault profile. It can be stopped and started again on the same port while keeping
  its tasks (a provider that is down, not one that forgot its work), and its creates per client
  reference are read straight from its state.
- ``Stack``: ``vidgate serve --no-worker`` and ``vidgate worker`` processes on a fresh
  ``$VIDGATE_HOME`` (SQLite, or a throwaway PostgreSQL database made and dropped here), their
  stderr in ``<run dir>/logs``; workers can be killed (any signal) and started again.
- ``submit`` / ``outcomes`` / ``tally``: jobs through ``vidgate.AsyncClient`` (each create carries
  an ``Idempotency-Key`` and is retried with it on a connection error or a 5xx, as a careful client
  does), every job read back, and the counts.

Jobs go to the Replicate twin (``replicate:bytedance/seedance-1-pro``, 2 s at 480p): Replicate can
be asked for a prediction by our reference, so an ambiguous create is looked up, never sent twice.
A *duplicate create* is a reference (``<job>-<n>``, one per attempt) for which the simulator made
more than one task: deliberate retries are new attempts with their own reference, and a create
that failed certainly (429, 500 before creating) made no task, so every extra task is one too many.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from _harness import rss_mib

from vidgate import AsyncClient
from vidgate.exceptions import VidgateError
from vidgate.simulator.app import create_app
from vidgate.simulator.faults import FaultProfile
from vidgate.simulator.state import SimState, SimulatorConfig

MODEL = "replicate:bytedance/seedance-1-pro"
TOKEN = "r8_bench-chaos-0123456789abcdef"
TERMINAL = {"completed", "failed", "canceled"}

#: The soak's default fault profile: every kind of trouble the simulator can make, at rates a
#: bad day at a provider might show. ``hang`` tasks never finish (the job's deadline ends them).
SOAK_FAULTS: dict[str, float] = {
    "429": 0.05,
    "500-create": 0.02,
    "500-after-create": 0.03,
    "500-poll": 0.03,
    "500-download": 0.03,
    "slow": 0.02,
    "fail": 0.03,
    "hang": 0.005,
    "truncated": 0.01,
}


def now() -> str:
    return time.strftime("%H:%M:%S", time.gmtime())


def say(*parts: Any) -> None:
    print(now(), *parts, file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Simulator:
    """The simulator in a thread of this process, stoppable and restartable on one port."""

    def __init__(
        self, media_dir: Path, latency: float, faults: dict[str, float], seed: int = 0
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = SimulatorConfig(
            latency=latency,
            public_url=self.url,
            media_dir=media_dir,
            profile=FaultProfile(rates=dict(faults), seed=seed),
            generic_renders=True,
        )
        self.app = create_app(config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SimState:
        sim: SimState = self.app.state.sim
        return sim

    def start(self) -> None:
        server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off"
            )
        )
        thread = threading.Thread(target=server.run, name="simulator", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Down: the port refuses connections (open connections are closed)."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._server = self._thread = None

    def duplicates(self) -> dict[str, int]:
        """References the simulator made more than one task for."""
        counts = self.state.creates_by_reference.get("replicate", Counter())
        return {ref: n for ref, n in counts.items() if n > 1 and ref != "-"}

    def creates(self) -> int:
        return int(self.state.creates.get("replicate", 0))


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(c) for c in text]
    except OSError:
        pass
    return found


def tree_rss_mib(pid: int) -> tuple[float, float]:
    """The process's own RSS and that of it with its children (the media lane), in MiB."""
    own = rss_mib(pid)
    return own, own + sum(rss_mib(c) for c in children(pid))


@dataclass
class Stack:
    """A gateway (API only) and workers on a fresh home, pointed at the simulator."""

    run_dir: Path
    simulator: Simulator
    workers: int = 1
    postgres_admin_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    storage_dir: Path | None = None
    gateway_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    database: str | None = None
    key: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDGATE_", "REPLICATE_"))}
        env.update(
            {
                "VIDGATE_HOME": str(self.run_dir / "home"),
                "VIDGATE_SIMULATOR_URL": self.simulator.url,
                "REPLICATE_API_TOKEN": TOKEN,
                "VIDGATE_POLL_INTERVAL": "1",
                "VIDGATE_POLL_MAX_INTERVAL": "5",
                "VIDGATE_QUEUE_POLL_INTERVAL": "0.5",
                "VIDGATE_LOG_LEVEL": "INFO",
                "VIDGATE_MEDIA_WORKERS": "1",
            }
        )
        if self.database:
            env["VIDGATE_DATABASE_URL"] = self.database
        if self.storage_dir is not None:
            env["VIDGATE_STORAGE_DIR"] = str(self.storage_dir)
        env.update(self.extra_env)
        return env

    def __enter__(self) -> Stack:
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.postgres_admin_url:
            self.database = create_database(self.postgres_admin_url)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "vidgate",
                "keys",
                "create",
                "--tenant",
                "bench",
                "--admin",
                "--json",
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        self.key = json.loads(out)["key"]
        self.start_gateway()
        for index in range(self.workers):
            self.start_worker(index)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.procs):
            self.stop(name)
        if self.postgres_admin_url and self.database:
            drop_database(self.postgres_admin_url, self.database)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.run_dir / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidgate", *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_gateway(self) -> None:
        self._spawn("gateway", ["serve", "--no-worker", "--port", str(self.gateway_port)])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.procs["gateway"].poll() is not None:
                raise RuntimeError("the gateway exited; see logs/gateway.log")
            time.sleep(0.2)
        raise RuntimeError("the gateway did not answer /healthz in 120 s")

    def start_worker(self, index: int) -> None:
        self._spawn(f"worker-{index}", ["worker", "--executor-id", f"bench-worker-{index}"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)  # the worker and its media-lane processes
            proc.wait(timeout=60)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass

    def worker_pids(self) -> dict[str, int]:
        return {
            name: proc.pid
            for name, proc in self.procs.items()
            if name.startswith("worker") and proc.poll() is None
        }

    def tracebacks(self) -> dict[str, int]:
        """``Traceback`` lines per process log (a traceback is a bug unless explained)."""
        found = {}
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            n = log.read_text(errors="replace").count("Traceback (most recent call last)")
            if n:
                found[log.stem] = n
        return found


def create_database(admin_url: str) -> str:
    import psycopg

    name = f"vidgate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    say("database", name)
    return f"{base}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    for _ in range(10):
        try:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            time.sleep(3)  # the server may be restarting


@dataclass
class Ledger:
    """Every job the run tried to create, and what became of it."""

    admitted: dict[str, float] = field(default_factory=dict)  # job id -> when admitted
    deadline: dict[str, float] = field(default_factory=dict)  # job id -> its deadline_seconds
    refused: Counter[str] = field(default_factory=Counter)  # create error code -> count
    create_retries: int = 0


async def create_one(
    client: AsyncClient, ledger: Ledger, index: int, deadline: float, attempts: int = 30
) -> None:
    """One create, retried with its idempotency key while the gateway cannot answer."""
    key = f"bench-{uuid.uuid4().hex}"
    for attempt in range(attempts):
        try:
            video = await client.create(
                f"a fox, bench job {index}",
                model=MODEL,
                duration=2,
                resolution="480p",
                aspect_ratio="16:9",
                deadline_seconds=deadline,
                idempotency_key=key,
            )
        except (httpx.HTTPError, VidgateError) as exc:
            details = getattr(exc, "details", None) or {}
            status = details.get("http_status")
            code = getattr(exc, "code", None) or type(exc).__name__
            retryable = isinstance(exc, httpx.HTTPError) or (
                isinstance(status, int) and (status >= 500 or status == 429)
            )
            if retryable and attempt < attempts - 1:
                ledger.create_retries += 1
                await asyncio.sleep(min(2.0 * (attempt + 1), 10.0))
                continue
            ledger.refused[str(code)] += 1
            return
        ledger.admitted[video.id] = time.time()
        ledger.deadline[video.id] = deadline
        return


async def submit(
    url: str,
    key: str,
    ledger: Ledger,
    count: int,
    *,
    rate: float,
    deadline: float,
    start_index: int = 0,
) -> None:
    """``count`` creates at ``rate`` per second (each in its own task, so a slow gateway does not
    slow the offered load)."""
    async with AsyncClient(url, api_key=key, timeout=30) as client:
        tasks = []
        began = time.monotonic()
        for i in range(count):
            wait = began + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(create_one(client, ledger, start_index + i, deadline)))
        await asyncio.gather(*tasks)


async def outcomes(url: str, key: str, ids: list[str], limit: int = 16) -> dict[str, Any]:
    """Each job as the gateway reports it (a dict), or ``None`` when it does not know it."""
    found: dict[str, Any] = {}
    semaphore = asyncio.Semaphore(limit)
    async with AsyncClient(url, api_key=key, timeout=60) as client:

        async def one(job_id: str) -> None:
            async with semaphore:
                for attempt in range(10):
                    try:
                        found[job_id] = (await client.get(job_id)).model_dump()
                        return
                    except VidgateError as exc:
                        if (getattr(exc, "details", None) or {}).get("http_status") == 404:
                            found[job_id] = None
                            return
                        await asyncio.sleep(1 + attempt)
                    except httpx.HTTPError:
                        await asyncio.sleep(1 + attempt)
                found[job_id] = {"status": "unreadable"}

        await asyncio.gather(*(one(i) for i in ids))
    return found


async def drain(
    url: str, key: str, ledger: Ledger, *, give_up_at: float, every: float = 10.0
) -> dict[str, Any]:
    """Read every admitted job until all are terminal or ``give_up_at`` (epoch) passes."""
    pending = list(ledger.admitted)
    final: dict[str, Any] = {}
    while True:
        seen = await outcomes(url, key, pending)
        final.update(seen)
        pending = [i for i, v in seen.items() if v is not None and v.get("status") not in TERMINAL]
        if not pending or time.time() > give_up_at:
            return final
        say(f"drain: {len(pending)} not finished")
        await asyncio.sleep(every)


def tally(
    ledger: Ledger, final: dict[str, Any], simulator: Simulator, stuck_margin: float
) -> dict[str, Any]:
    """The counts: completed, failed by code, stuck, lost, duplicate creates at the simulator."""
    status: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    explained: Counter[str] = Counter()
    stuck, lost = [], []
    attempts = 0
    at = time.time()
    known_remote: set[str] = set()
    for job_id, admitted in ledger.admitted.items():
        video = final.get(job_id)
        if video is None:
            lost.append(job_id)
            continue
        state = str(video.get("status"))
        status[state] += 1
        for attempt in video.get("attempts") or []:
            attempts += 1
            if attempt.get("remote_id"):
                known_remote.add(str(attempt["remote_id"]))
        if state == "failed":
            error = video.get("error") or {}
            code = str(error.get("code", "?"))
            failed[code] += 1
            # What the simulator injected into this job's tasks: each failure should be one.
            injected = sorted(
                {
                    name
                    for a in video.get("attempts") or []
                    if (task := simulator.state.tasks.get(str(a.get("remote_id")))) is not None
                    for name in task.faults.names()
                }
            )
            explained[f"{code} <- {','.join(injected) or 'no task fault'}"] += 1
        if state not in TERMINAL and at > admitted + ledger.deadline[job_id] + stuck_margin:
            stuck.append({"id": job_id, "status": state, "phase": video.get("phase")})
    tasks = simulator.state.tasks.values()
    ours = {f"{j}-" for j in ledger.admitted}
    orphans = [
        t.id
        for t in tasks
        if t.provider == "replicate"
        and t.id not in known_remote
        and t.reference
        and any(t.reference.startswith(p) for p in ours)
    ]
    duplicates = simulator.duplicates()
    return {
        "submitted": len(ledger.admitted) + sum(ledger.refused.values()),
        "admitted": len(ledger.admitted),
        "refused_at_create": dict(ledger.refused),
        "create_retries": ledger.create_retries,
        "completed": status.get("completed", 0),
        "failed": sum(failed.values()),
        "failed_by_code": dict(failed.most_common()),
        "failed_by_code_and_injected_fault": dict(explained.most_common()),
        "canceled": status.get("canceled", 0),
        "not_terminal": sum(n for s, n in status.items() if s not in TERMINAL),
        "not_terminal_by_status": {s: n for s, n in status.items() if s not in TERMINAL},
        "stuck": len(stuck),
        "stuck_jobs": stuck[:20],
        "lost": len(lost),
        "lost_jobs": lost[:20],
        "attempts": attempts,
        "simulator_creates": simulator.creates(),
        "duplicate_creates": sum(n - 1 for n in duplicates.values()),
        "duplicate_references": dict(list(duplicates.items())[:20]),
        "tasks_unknown_to_their_job": len(orphans),
        "tasks_unknown_sample": orphans[:10],
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
