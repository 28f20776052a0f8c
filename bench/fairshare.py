"""Fair share benchmark: tenant A bursts N jobs, then tenant B submits one. How long does B's
job wait?

    python bench/fairshare.py [--jobs 200] [--concurrency 4] [--latency 2]
                              [--mode fifo|fair] [--provider-share 1.0] [--job-share 0.8]
                              [--worker-concurrency 1000] [--database-url URL] [--out FILE]

One process: a worker engine (``Engine(worker=True)``) on a fresh ``$VIDGATE_HOME`` and the
offline ``simulated`` provider (tasks of ``--latency`` seconds, 1 s 360p clips), limited to
``--concurrency`` tasks at once (``VIDGATE_PROVIDER_LIMITS``). Tenant A's ``--jobs`` jobs are
queued as the gateway queues them (``Engine.enqueue``, the job queue), and ``--gap`` seconds
later tenant B's one job. Reported: B's wait to reach the provider (queued → its attempt's
create call) and to complete, how many of A's jobs reached the provider and how many had
completed by then, and A's whole burst when it is waited for (``--drain``).

``--mode fifo`` measures the behaviour before fair share: the job queue and the provider's queue
are registered without partitions (DBOS then runs entries in the order they were queued, which
is what ``main`` does before this change); ``--mode fair`` runs the code as it is. In fair mode
the run stops once B has completed unless ``--drain`` is given (A's backlog is not what is
measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vidgate.engine import Engine, service
from vidgate.engine.fairshare import workflow_status
from vidgate.settings import Settings
from vidgate.types import Job, VideoRequest


def request(prompt: str, seed: int) -> VideoRequest:
    return VideoRequest(
        prompt=prompt, duration=1, resolution="360p", aspect_ratio="16:9", seed=seed
    )


def unpartitioned(limits: Any) -> Any:
    """A queue's limits without its per-tenant parts: DBOS's plain FIFO queue."""

    def plain(*args: Any) -> dict[str, Any]:
        options = dict(limits(*args))
        for key in ("partition_concurrency", "partition_worker_concurrency", "partition_limiter"):
            options.pop(key, None)
        return options

    return plain


def settings_for(args: argparse.Namespace, home: Path) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "simulated_latency": args.latency,
        "poll_interval": min(0.5, args.latency / 2),
        "queue_poll_interval": 0.5,
        "provider_limits": {"simulated": {"concurrency": args.concurrency}},
        "worker_concurrency": args.worker_concurrency,
        "tenant_job_share": args.job_share,
        "tenant_provider_share": args.provider_share,
        "log_level": "ERROR",
    }
    if args.database_url:
        values["database_url"] = args.database_url
    return Settings(**values)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vidgate-bench-fair-"))
    settings = settings_for(args, home)
    if args.mode == "fifo":
        service.job_queue_limits = unpartitioned(service.job_queue_limits)  # type: ignore[assignment]
        service.provider_queue_limits = unpartitioned(service.provider_queue_limits)  # type: ignore[assignment]
    results: dict[str, Any] = {
        "mode": args.mode,
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "worker_concurrency": args.worker_concurrency,
        "job_share": args.job_share,
        "provider_share": args.provider_share,
        "database": "postgresql" if args.database_url else "sqlite",
        "load_before": os.getloadavg()[0],
    }
    async with Engine(settings, worker=True) as engine:
        started = time.time()
        burst = await asyncio.to_thread(
            lambda: [engine.enqueue(request(f"a {i}", i), tenant="A") for i in range(args.jobs)]
        )
        results["burst_queued_s"] = round(time.time() - started, 2)
        await asyncio.sleep(args.gap)
        b_queued = time.time()
        single = await asyncio.to_thread(engine.enqueue, request("b", 0), tenant="B")
        done_b = await engine.wait(single.id, interval=0.1)
        b_done = time.time()
        burst_now = [engine.get(j.id) for j in burst]
        b_start = done_b.attempts[0].submitted_at if done_b.attempts else None
        results["b_status"] = done_b.status.value
        results["b_to_provider_s"] = (
            round(b_start.timestamp() - b_queued, 2) if b_start is not None else None
        )
        results["b_to_completed_s"] = round(b_done - b_queued, 2)
        attempt_queued = _queued_at(engine, f"{single.id}-1")
        if attempt_queued is not None and b_start is not None:
            # Split B's wait: the job queue and routing, then the provider's queue.
            results["b_job_to_attempt_queued_s"] = round(attempt_queued - b_queued, 2)
            results["b_attempt_queued_to_provider_s"] = round(
                b_start.timestamp() - attempt_queued, 2
            )
        cutoff = b_start.timestamp() if b_start is not None else b_done
        results["a_reached_provider_before_b"] = sum(
            1 for j in burst_now if (_submitted(j) or cutoff) < cutoff
        )
        results["a_completed_when_b_completed"] = sum(1 for j in burst_now if j.done)
        if args.drain or args.mode == "fifo":
            finished = [await engine.wait(j.id, interval=0.2) for j in burst]
            ends = [j.completed_at.timestamp() for j in finished if j.completed_at]
            results["a_drained_s"] = round(max(ends) - started, 1)
            waits = [s - started for j in finished if (s := _submitted(j)) is not None]
            results["a_to_provider_p50_s"] = round(statistics.median(waits), 1)
    results["load_after"] = os.getloadavg()[0]
    return results


def _queued_at(engine: Engine, workflow_id: str) -> float | None:
    """When DBOS queued a workflow (its status row's creation), in epoch seconds."""
    ws = workflow_status(engine.database)
    with engine.database.connect() as conn:
        ms = conn.execute(
            sa.select(ws.c.created_at).where(ws.c.workflow_uuid == workflow_id)
        ).scalar()
    return ms / 1000 if ms is not None else None


def _submitted(job: Job) -> float | None:
    stamps = [a.submitted_at.timestamp() for a in job.attempts if a.submitted_at]
    return min(stamps) if stamps else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="tenant A's burst")
    parser.add_argument("--concurrency", type=int, default=4, help="the provider's limit")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per task")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between A's and B's")
    parser.add_argument("--mode", choices=("fifo", "fair"), default="fair")
    parser.add_argument("--job-share", type=float, default=0.8)
    parser.add_argument("--provider-share", type=float, default=1.0)
    parser.add_argument("--worker-concurrency", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp home")
    parser.add_argument("--drain", action="store_true", help="wait for A's whole burst too")
    parser.add_argument("--out", type=Path, default=None, help="append the result (JSON lines)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    line = json.dumps(results)
    print(line)
    if args.out is not None:
        with args.out.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


if __name__ == "__main__":
    main()
