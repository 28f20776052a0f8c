"""In-flight load benchmark (issue 10): N jobs submitted in a burst through the gateway, while
their provider tasks (about 60 s each) run at the simulator.

    python bench/inflight.py --jobs 200 [--latency 60] [--webhooks] [--database-url URL]
                             [--worker-concurrency N] [--workers N] [--timeout 900]
                             [--burst-limit S] [--out FILE]

Three processes besides this one, as an operator would run them: ``vidgate simulator
--generic-renders`` (the Replicate twin; every output one shared card, so the simulator's own
rendering is not measured), ``vidgate serve --no-worker`` (the gateway) and one ``vidgate
worker``, all on one fresh ``$VIDGATE_HOME`` (SQLite there, or ``--database-url`` — an empty
PostgreSQL database the run may fill). With ``--webhooks`` the gateway's public URL is set, so
each create subscribes Replicate's webhooks and the gateway receives them.

The client submits N ``POST /v1/videos`` (Seedance 1 Pro, 2 s at 480p, a distinct prompt each)
with ``--concurrency`` in flight (for at most ``--burst-limit`` seconds), then waits until
every job ended or ``--timeout``. Reported,
from the database afterwards (each task is done at the provider ``--latency`` seconds after its
attempt's ``submitted_at``):

- admission: the burst's wall time and jobs/s;
- reached the provider: admission → the attempt's ``submitted_at`` (p50/p99), and the peak
  number of tasks in flight at the provider at once;
- detection lag: provider done → the job's ``downloading`` line (p50/p99);
- completion lag: provider done → the job ``completed`` (p50/p99);
- completed jobs per minute (first to last completion) and how many ended how;
- worker CPU (average % of one core over the run, and its media-lane children's) and peak RSS
  (the worker alone, and with its children), sampled each second from /proc;
- the database's size at the end; the machine's load average before and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from _harness import ProcessSampler, percentile, wait_healthy

from vidgate.db import attempts, job_events, jobs, make_engine, workers

MODEL = "replicate:bytedance/seedance-1-pro"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def utc(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def vidgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "vidgate", *args]


async def submit_burst(
    url: str, key: str, count: int, concurrency: int, limit: float
) -> dict[str, Any]:
    """Submits ``count`` jobs with ``concurrency`` requests in flight, for at most ``limit``
    seconds (then the rest are not sent); returns the ids and the admission figures."""
    stop_at = time.perf_counter() + limit
    semaphore = asyncio.Semaphore(concurrency)
    refused: dict[str, int] = {}
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits)
    async with client:

        async def one(index: int) -> None:
            body = {
                "model": MODEL,
                "prompt": f"a lighthouse at dusk, take {index}",
                "duration": 2,
                "resolution": "480p",
                "aspect_ratio": "16:9",
            }
            async with semaphore:
                if time.perf_counter() > stop_at:
                    refused["not_sent"] = refused.get("not_sent", 0) + 1  # past --burst-limit
                    return
                for _ in range(5):
                    try:
                        answer = await client.post("/v1/videos", json=body)
                    except httpx.TimeoutException:  # counted, and tried again
                        refused["timeout"] = refused.get("timeout", 0) + 1
                        continue
                    if answer.status_code == 200:
                        ids.append(answer.json()["id"])
                        return
                    refused[str(answer.status_code)] = refused.get(str(answer.status_code), 0) + 1
                    await asyncio.sleep(0.5)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        wall = time.perf_counter() - started
    return {
        "ids": ids,
        "admitted": len(ids),
        "wall_s": round(wall, 2),
        "jobs_per_s": round(len(ids) / wall, 1) if wall else None,
        "refused": refused,
    }


async def worker_alive(db: sa.Engine, pid: int, timeout: float = 300.0) -> None:
    """Waits for the worker's heartbeat row (it is written once DBOS is launched)."""
    query = sa.select(sa.func.count()).select_from(workers).where(workers.c.pid == pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.connect() as conn:
            if conn.execute(query).scalar():
                return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the worker did not start in {timeout:g} s")


def unfinished(db: sa.Engine) -> int:
    with db.connect() as conn:
        done = ("completed", "failed", "canceled")
        query = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.status.not_in(done))
        return int(conn.execute(query).scalar() or 0)


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    moments = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    current = peak = 0
    for _, step in moments:
        current += step
        peak = max(peak, current)
    return peak


def figures(db: sa.Engine, latency: float) -> dict[str, Any]:
    with db.connect() as conn:
        job_rows = conn.execute(
            sa.select(jobs.c.id, jobs.c.status, jobs.c.created_at, jobs.c.completed_at)
        ).all()
        attempt_rows = conn.execute(
            sa.select(attempts.c.job_id, attempts.c.submitted_at).where(
                attempts.c.submitted_at.is_not(None)
            )
        ).all()
        seen_rows = conn.execute(
            sa.select(job_events.c.job_id, sa.func.min(job_events.c.at))
            .where(job_events.c.phase == "downloading")
            .group_by(job_events.c.job_id)
        ).all()
    created = {row.id: utc(row.created_at) for row in job_rows}
    submitted: dict[str, float] = {}
    for row in attempt_rows:  # the last attempt's (a retried job's task is the last one)
        moment = utc(row.submitted_at)
        if moment is not None:
            submitted[row.job_id] = max(submitted.get(row.job_id, 0.0), moment)
    seen = {job_id: utc(at) for job_id, at in seen_rows}
    statuses: dict[str, int] = {}
    reach, detect, complete, ends = [], [], [], []
    for row in job_rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
        sent = submitted.get(row.id)
        made = created.get(row.id)
        if sent is None:
            continue
        if made is not None:
            reach.append(sent - made)
        done_at_provider = sent + latency
        if seen.get(row.id) is not None:
            detect.append(seen[row.id] - done_at_provider)  # type: ignore[operator]
        finished = utc(row.completed_at)
        if row.status == "completed" and finished is not None:
            complete.append(finished - done_at_provider)
            ends.append(finished)
    per_minute = None
    if len(ends) > 1 and max(ends) > min(ends):
        per_minute = round(60 * (len(ends) - 1) / (max(ends) - min(ends)), 1)
    return {
        "statuses": statuses,
        "reach_provider_s": {"p50": percentile(reach, 50), "p99": percentile(reach, 99)},
        "peak_in_flight_at_provider": peak_overlap([(s, s + latency) for s in submitted.values()]),
        "detection_lag_s": {"p50": percentile(detect, 50), "p99": percentile(detect, 99)},
        "completion_lag_s": {"p50": percentile(complete, 50), "p99": percentile(complete, 99)},
        "completed_per_minute": per_minute,
    }


def database_size(db: sa.Engine, home: Path) -> float:
    if db.dialect.name == "postgresql":
        with db.connect() as conn:
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
        return round(int(size or 0) / 2**20, 1)
    files = list(home.glob("vidgate.sqlite*")) + list(home.glob("*.sqlite*"))
    return round(sum(f.stat().st_size for f in set(files)) / 2**20, 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vidgate-bench-inflight-"))
    sim_port, gate_port = free_port(), free_port()
    sim_url, gate_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{gate_port}"
    env = {
        **os.environ,
        "VIDGATE_HOME": str(home),
        "VIDGATE_SIMULATOR_URL": sim_url,
        "REPLICATE_API_TOKEN": "r8_bench",
        "VIDGATE_LOG_LEVEL": "WARNING",
        "VIDGATE_WORKER_CONCURRENCY": str(args.worker_concurrency or max(args.jobs, 1000)),
    }
    if args.database_url:
        env["VIDGATE_DATABASE_URL"] = args.database_url
    if args.webhooks:
        env["VIDGATE_PUBLIC_URL"] = gate_url
    results: dict[str, Any] = {
        "jobs": args.jobs,
        "latency_s": args.latency,
        "mode": "webhooks" if args.webhooks else "polling",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": os.getloadavg(),
        "worker_concurrency": env["VIDGATE_WORKER_CONCURRENCY"],
        "workers": args.workers,
    }
    logs = home / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        out = (logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        spawn(
            "simulator",
            [
                *vidgate("simulator", "--generic-renders"),
                "--port",
                str(sim_port),
                "--latency",
                str(args.latency),
                "--media-dir",
                str(home / "sim"),
            ],
        )
        await wait_healthy(f"{sim_url}/_simulator/stats")
        key = json.loads(
            subprocess.run(
                vidgate("keys", "create", "--tenant", "bench", "--json"),
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["key"]
        spawn("gateway", [*vidgate("serve", "--no-worker"), "--port", str(gate_port)])
        await wait_healthy(f"{gate_url}/healthz")
        db = make_engine(args.database_url or f"sqlite:///{home / 'vidgate.sqlite'}")
        samplers = []
        for _ in range(args.workers):  # each its own executor id, all on the same queues
            worker = spawn("worker", vidgate("worker"))
            await worker_alive(db, worker.pid)  # launched (DBOS recovery done) before the burst
            samplers.append(ProcessSampler(worker.pid))
        for sampler in samplers:
            sampler.start()
        burst = await submit_burst(gate_url, key, args.jobs, args.concurrency, args.burst_limit)
        results["admission"] = {k: v for k, v in burst.items() if k != "ids"}
        give_up = time.monotonic() + args.timeout
        while time.monotonic() < give_up:
            left = await asyncio.to_thread(unfinished, db)
            if left == 0:
                break
            await asyncio.sleep(2)
        results["timed_out"] = time.monotonic() >= give_up
        for sampler in samplers:
            sampler.stop()
        results["worker"] = samplers[0].summary()
        if len(samplers) > 1:
            results["each_worker"] = [sampler.summary() for sampler in samplers]
        results.update(await asyncio.to_thread(figures, db, args.latency))
        results["database_mib"] = await asyncio.to_thread(database_size, db, home)
        results["database"] = db.dialect.name
        db.dispose()
        stats = httpx.get(f"{sim_url}/_simulator/stats", timeout=30).json()
        results["simulator"] = {
            "creates": sum(stats["creates"].values()),
            "renders": stats["renders"],
            "webhooks": len(stats["webhooks"]),
        }
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    results["load_at_end"] = os.getloadavg()
    results["home"] = str(home)
    return results


def report(args: argparse.Namespace) -> dict[str, Any]:
    home: Path = args.report
    db = make_engine(args.database_url or f"sqlite:///{home / 'vidgate.sqlite'}")
    results: dict[str, Any] = {"jobs": args.jobs, "latency_s": args.latency, "home": str(home)}
    results.update(figures(db, args.latency))
    results["database_mib"] = database_size(db, home)
    results["database"] = db.dialect.name
    results["load_at_end"] = os.getloadavg()
    db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--webhooks", action="store_true")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--worker-concurrency", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (scale-out)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--burst-limit", type=float, default=3600.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="HOME",
        help="only report the figures of an earlier run's home (its processes' CPU and memory "
        "are not known then)",
    )
    args = parser.parse_args()
    # A SIGTERM (a `timeout` around the run) still stops the three processes it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = asyncio.run(run(args)) if args.report is None else report(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
