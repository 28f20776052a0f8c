"""Waiting benchmark (issue 10): what N jobs cost a worker while they only wait at a provider.

    python bench/waiting.py [--jobs 300] [--latency 60] [--window 20] [--out FILE]

One engine process (``vidgate.Engine``, SQLite in a temporary home) submits N jobs to the
simulated provider, whose tasks take ``--latency`` seconds. Once every job's task has been
created, it measures for ``--window`` seconds, while the jobs only wait: the CPU seconds this
process used (``time.process_time``: its own threads, not the media lane's processes, which do
not run while jobs wait) and the DBOS checkpoint rows (``operation_outputs``) and provider status
calls written, per waiting job (all N, unless creating them took over half the latency).
The jobs are left to DBOS's shutdown afterwards (not completed).

Run it on another commit's code with ``PYTHONPATH=<that checkout>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.types import VideoRequest


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


async def run(jobs: int, latency: float, window: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vidgate-bench-waiting-"))
    settings = Settings(home=home, simulated_latency=latency, log_level="ERROR")
    request = VideoRequest.model_validate(
        {"prompt": "a fox", "duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}
    )
    db = sa.create_engine(settings.resolved_database_url)
    async with Engine(settings) as engine:
        started = time.monotonic()
        for i in range(jobs):
            await engine.submit(request.model_copy(update={"seed": i}))
        created = "SELECT count(*) FROM attempts WHERE remote_id IS NOT NULL"
        while count(db, created) < jobs and time.monotonic() - started < latency / 2:
            await asyncio.sleep(0.5)
        waiting = count(db, created)  # all of them, unless submission was slower than latency/2
        created_in = time.monotonic() - started
        await asyncio.sleep(2.0)  # let the first polls settle into the steady wait
        rows0 = count(db, "SELECT count(*) FROM operation_outputs")
        calls0 = count(db, "SELECT count(*) FROM request_log")
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(window)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        rows = count(db, "SELECT count(*) FROM operation_outputs") - rows0
        calls = count(db, "SELECT count(*) FROM request_log") - calls0
        done = count(db, "SELECT count(*) FROM jobs WHERE status = 'completed'")
    db.dispose()
    return {
        "jobs": jobs,
        "waiting_during_window": waiting,
        "latency_s": latency,
        "all_tasks_created_in_s": round(created_in, 1),
        "window_s": round(wall, 1),
        "completed_during_window": done,
        "cpu_s": round(cpu, 2),
        "cpu_percent": round(100 * cpu / wall, 1),
        "checkpoint_rows_per_job": round(rows / waiting, 2),
        "status_calls_per_job": round(calls / waiting, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--latency", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.jobs, args.latency, args.window))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
