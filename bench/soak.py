"""Soak (issue 10): a steady stream of jobs for an hour, with the simulator's fault profile on.

    python bench/soak.py [--minutes 60] [--rate 0.5] [--latency 20] [--deadline 180]
                         [--workers 1] [--postgres] [--faults JSON] [--out bench/soak-results.json]

A gateway (``vidgate serve --no-worker``) and ``--workers`` workers on a fresh home (SQLite, or
with ``--postgres`` a throwaway database on ``$VIDGATE_TEST_POSTGRES_URL``), the Replicate twin
of the simulator in this process with a fault profile (default ``harness.SOAK_FAULTS``: 429s,
5xx before and after creating, failed polls and downloads, slow, failed, hung and truncated
tasks). Jobs arrive at ``--rate`` per second for ``--minutes``; then every job is read until it
ends (at most its deadline plus a margin). Every ``--sample`` seconds it records the workers'
RSS (the process, and with its media lane) and the gateway's. Reported: the counts
(``harness.tally``: completed, failed by code, stuck, lost, duplicate creates), the RSS samples
and their summary (first and last ten minutes' medians, the peak), tracebacks in the logs, and
the machine's load average along the way (the machine is shared).
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

from _harness import rss_mib
from harness import (
    SOAK_FAULTS,
    Ledger,
    Simulator,
    Stack,
    drain,
    machine,
    say,
    submit,
    tally,
    tree_rss_mib,
)

HERE = Path(__file__).parent


def summarize(samples: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [(s["t_s"], s[key]) for s in samples if s.get(key)]
    if not values:
        return {}
    end = values[-1][0]
    first = [v for t, v in values if t <= 600]
    last = [v for t, v in values if t >= end - 600]
    return {
        "first_10min_median": round(statistics.median(first), 1) if first else None,
        "last_10min_median": round(statistics.median(last), 1) if last else None,
        "min": round(min(v for _, v in values), 1),
        "max": round(max(v for _, v in values), 1),
    }


async def sampler(
    stack: Stack, sim: Simulator, ledger: Ledger, began: float, every: float, out: list[Any]
) -> None:
    while True:
        sample: dict[str, Any] = {
            "t_s": round(time.time() - began),
            "admitted": len(ledger.admitted),
            "simulator_tasks": len(sim.state.tasks),
            "load_1min": round(os.getloadavg()[0], 2),
        }
        for name, pid in stack.worker_pids().items():
            own, tree = tree_rss_mib(pid)
            sample[f"{name}_rss_mib"] = round(own, 1)
            sample[f"{name}_with_media_rss_mib"] = round(tree, 1)
        gateway = stack.procs.get("gateway")
        if gateway is not None:
            sample["gateway_rss_mib"] = round(rss_mib(gateway.pid), 1)
        out.append(sample)
        await asyncio.sleep(every)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="vidgate-soak-"))
    faults = json.loads(args.faults) if args.faults else SOAK_FAULTS
    sim = Simulator(run_dir / "simulator-media", args.latency, faults, seed=args.seed)
    sim.start()
    admin = os.environ.get("VIDGATE_TEST_POSTGRES_URL") if args.postgres else None
    if args.postgres and not admin:
        raise SystemExit("--postgres needs VIDGATE_TEST_POSTGRES_URL")
    result: dict[str, Any] = {
        "scenario": "soak",
        "run_dir": str(run_dir),
        "database": "postgresql" if admin else "sqlite",
        "minutes": args.minutes,
        "rate_per_s": args.rate,
        "latency_s": args.latency,
        "deadline_s": args.deadline,
        "workers": args.workers,
        "faults": faults,
        "machine_at_start": machine(),
    }
    samples: list[dict[str, Any]] = []
    ledger = Ledger()
    with Stack(run_dir, sim, workers=args.workers, postgres_admin_url=admin) as stack:
        say("stack up:", stack.url, "simulator", sim.url, "run dir", run_dir)
        began = time.time()
        watch = asyncio.create_task(sampler(stack, sim, ledger, began, args.sample, samples))
        count = int(args.minutes * 60 * args.rate)
        await submit(stack.url, stack.key, ledger, count, rate=args.rate, deadline=args.deadline)
        say(f"submitted {count}: {len(ledger.admitted)} admitted")
        give_up = time.time() + args.deadline + args.margin
        final = await drain(stack.url, stack.key, ledger, give_up_at=give_up)
        watch.cancel()
        result["counts"] = tally(ledger, final, sim, args.margin)
        result["tracebacks_in_logs"] = stack.tracebacks()
        result["wall_s"] = round(time.time() - began)
    sim.stop()
    result["machine_at_end"] = machine()
    worker = "worker-0_rss_mib"
    result["rss_summary_mib"] = {
        "worker": summarize(samples, worker),
        "worker_with_media_lane": summarize(samples, "worker-0_with_media_rss_mib"),
        "gateway": summarize(samples, "gateway_rss_mib"),
    }
    loads = [s["load_1min"] for s in samples]
    result["load_1min"] = {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}
    result["samples"] = samples
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long jobs arrive")
    parser.add_argument("--rate", type=float, default=0.5, help="jobs per second")
    parser.add_argument("--latency", type=float, default=20.0, help="seconds per provider task")
    parser.add_argument("--deadline", type=float, default=180.0, help="each job's deadline_seconds")
    parser.add_argument("--margin", type=float, default=120.0, help="past the deadline = stuck")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--faults", help="the simulator's fault rates as JSON")
    parser.add_argument("--seed", type=int, default=0, help="the fault draws' seed")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, default=HERE / "soak-results.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
