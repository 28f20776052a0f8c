"""Waiting benchmark (issue 10): what N jobs cost a worker while they wait at a provider.

    python bench/waiting.py [--jobs 200] [--latency 60] [--window 20] [--database URL] [--out FILE]
                            [--provider simulated|replicate]

One engine process (``vidgate.Engine``; SQLite in a temporary home, or ``--database`` a
PostgreSQL database it may fill) submits N jobs to the simulated provider, whose tasks take
``--latency`` seconds. Once every task exists, it measures a ``--window`` of seconds in which the
jobs only wait: the CPU seconds this process used (``time.process_time``; the media lane's
processes do not run while jobs wait) and the DBOS checkpoint rows (``operation_outputs``) and
provider status calls written per waiting job. Then it lets every job finish and reports the
checkpoint rows per job over its whole life, the detection lag (from the moment the task was
done at the provider, its create + the latency, to the job's "downloading" line: what waiting
costs in time; with ``--provider replicate`` also the *notice lag*, to the read of the task
that saw it done) and the completion lag (to the job's end, which adds the download, the
simulated provider's render of each output in this process, and validation in the media lane).

With ``--provider replicate`` the jobs go to the Replicate twin of the wire simulator, on a
loopback port in this process (renders shared per spec, so the simulator's own work is small),
through the real adapter: then it also reports the HTTP calls the simulator received for status
(``GET /v1/predictions/{id}``) and listing (``GET /v1/predictions``) per job, and the request-log
rows per job.

Run it on another commit's code with ``PYTHONPATH=<that checkout>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vidgate.db import make_engine
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.types import VideoRequest


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def simulator_gets(sim: Any) -> int:
    """The GETs the Replicate twin answered (status reads and listings; downloads are
    under ``/_simulator``)."""
    if sim is None:
        return 0
    return sum(n for key, n in sim.state.requests.items() if key.startswith("GET /replicate "))


async def run(
    jobs: int, latency: float, window: float, database: str | None, provider: str
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        sim = None
        if provider == "replicate":
            from vidgate.simulator.server import simulator_in_thread
            from vidgate.simulator.state import SimulatorConfig

            home = Path(tempfile.mkdtemp(prefix="vidgate-bench-sim-"))
            config = SimulatorConfig(latency=latency, media_dir=home, generic_renders=True)
            sim = stack.enter_context(simulator_in_thread(config))
            os.environ["VIDGATE_REPLICATE_BASE_URL"] = sim.url + "/replicate"
            os.environ["REPLICATE_API_TOKEN"] = "r8_bench-token-0123456789abcdef"
        return await _run(jobs, latency, window, database, provider, sim)


async def _run(
    jobs: int, latency: float, window: float, database: str | None, provider: str, sim: Any
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vidgate-bench-waiting-"))
    settings = Settings(
        home=home, database_url=database, simulated_latency=latency, log_level="ERROR"
    )
    fields: dict[str, Any] = {"prompt": "a fox", "duration": 1, "resolution": "360p"}
    if provider == "replicate":
        fields = {"prompt": "a fox", "duration": 2, "resolution": "480p"}
    fields.update(aspect_ratio="16:9", providers=(provider,))
    request = VideoRequest.model_validate(fields)
    db = make_engine(settings.resolved_database_url)
    checkpoints = "operation_outputs"
    if db.dialect.name == "postgresql":
        checkpoints = "dbos.operation_outputs"
    statuses = "SELECT count(*) FROM request_log WHERE url LIKE '%/status'"
    if provider == "replicate":
        statuses = "SELECT count(*) FROM request_log WHERE method = 'GET'"
    logged = "SELECT count(*) FROM request_log"
    async with Engine(settings) as engine:
        started = time.monotonic()
        ids = [
            (await engine.submit(request.model_copy(update={"seed": i}))).id for i in range(jobs)
        ]
        created = "SELECT count(*) FROM attempts WHERE remote_id IS NOT NULL"
        while count(db, created) < jobs and time.monotonic() - started < latency / 2:
            await asyncio.sleep(0.5)
        waiting = count(db, created)  # all of them, unless submission was slower than latency/2
        created_in = time.monotonic() - started
        await asyncio.sleep(2.0)  # let the first polls settle into the steady wait
        rows0, calls0 = count(db, f"SELECT count(*) FROM {checkpoints}"), count(db, statuses)
        gets0 = simulator_gets(sim)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(window)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        rows = count(db, f"SELECT count(*) FROM {checkpoints}") - rows0
        calls = count(db, statuses) - calls0
        gets = simulator_gets(sim) - gets0
        unfinished = set(ids)
        give_up = time.monotonic() + latency + 300
        while unfinished and time.monotonic() < give_up:
            unfinished = {i for i in unfinished if not engine.get(i).done}
            await asyncio.sleep(1.0)
        finished = [engine.get(i) for i in ids if i not in unfinished]
        lags = [
            (job.completed_at - job.attempts[-1].submitted_at).total_seconds() - latency
            for job in finished
            if job.completed_at and job.attempts and job.attempts[-1].submitted_at
        ]
        detections = []  # task done at the provider -> the job's "downloading" line
        for job in finished:
            submitted = job.attempts[-1].submitted_at if job.attempts else None
            seen = next(
                (
                    e.at
                    for e in engine.runtime.store.events(job.id)
                    if e.phase.value == "downloading"
                ),
                None,
            )
            if submitted and seen:
                detections.append((seen - submitted).total_seconds() - latency)
        notices = []  # task done at the twin -> the read that saw it (the last one of the task)
        for job in finished if sim is not None else []:
            remote_id = job.attempts[-1].remote_id if job.attempts else None
            task = sim.state.tasks.get(remote_id or "")
            reads = [
                c.at
                for c in engine.calls(job.id)
                if c.method == "GET" and c.url.endswith(f"/v1/predictions/{remote_id}")
            ]
            if task is not None and reads:
                notices.append(max(reads).timestamp() - (task.created_at + task.latency))
        total_rows = count(db, f"SELECT count(*) FROM {checkpoints}")
        total_calls = count(db, statuses)
        total_logged = count(db, logged)
        pollers = getattr(engine.runtime, "pollers", None)
    db.dispose()
    http: dict[str, Any] = {}
    if sim is not None:
        http = {
            "window_http_status_calls_per_job": round(gets / waiting, 2),
            "http_status_calls_per_job": round(simulator_gets(sim) / jobs, 1),
            "http_requests_at_simulator": dict(sim.state.requests),
            "notice_lag_s": {
                "p50": percentile(notices, 50) if notices else None,
                "p99": percentile(notices, 99) if notices else None,
            },
        }
    if pollers is not None:
        http["poll_rounds"] = pollers.rounds
    return {
        "jobs": jobs,
        "provider": provider,
        "machine_load_1min_at_end": round(os.getloadavg()[0], 1),
        "database": db.dialect.name,
        "latency_s": latency,
        "all_tasks_created_in_s": round(created_in, 1),
        "waiting_during_window": waiting,
        "window_s": round(wall, 1),
        "window_cpu_s": round(cpu, 2),
        "window_cpu_percent": round(100 * cpu / wall, 1),
        "window_checkpoint_rows_per_job": round(rows / waiting, 2),
        "window_status_calls_per_job": round(calls / waiting, 2),
        "completed": sum(1 for job in finished if job.status.value == "completed"),
        "checkpoint_rows_per_job": round(total_rows / jobs, 1),
        "status_calls_per_job": round(total_calls / jobs, 1),
        "request_log_rows_per_job": round(total_logged / jobs, 1),
        **http,
        "detection_lag_s": {
            "p50": percentile(detections, 50) if detections else None,
            "p99": percentile(detections, 99) if detections else None,
        },
        "completion_lag_s": {
            "p50": percentile(lags, 50) if lags else None,
            "p99": percentile(lags, 99) if lags else None,
            "mean": round(statistics.fmean(lags), 2) if lags else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite in a temp home)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--provider", choices=["simulated", "replicate"], default="simulated")
    args = parser.parse_args()
    result = asyncio.run(run(args.jobs, args.latency, args.window, args.database, args.provider))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
