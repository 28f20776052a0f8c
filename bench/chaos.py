"""Chaos (issue 10): jobs through the gateway while something breaks, and what became of them.

    python bench/chaos.py kill-workers     [--loops 6] [--every 20] [--pause 5] [--fresh-ids]
    python bench/chaos.py restart-postgres [--restarts 1] [--shared-cluster]
    python bench/chaos.py simulator-down   [--down 120]
    python bench/chaos.py full-disk        [--disk-mib 20] [--free-after 60]
    common: [--jobs 200] [--rate 2] [--latency 10] [--deadline 600] [--workers 2]
            [--postgres] [--faults JSON] [--out bench/chaos-<scenario>.json]

Each run builds a deployment with ``harness.Stack`` (a gateway ``vidgate serve --no-worker``,
``--workers`` ``vidgate worker`` processes, the simulator's Replicate twin in this process, no
fault profile unless ``--faults``), submits ``--jobs`` jobs at ``--rate`` per second, breaks
something while they run, reads every job until all have ended (or their deadline plus a margin
has passed) and writes the counts (``harness.tally``: completed, failed by code and by the fault
that caused it, stuck, lost, duplicate creates at the simulator) with the tracebacks found in the
processes' logs and the machine's load.

- ``kill-workers``: ``kill -9`` of a worker (and its media lane) every ``--every`` seconds,
  alternating between workers, ``--loops`` times; each comes back after ``--pause`` seconds with
  the same ``--executor-id`` (resumes its jobs at once) or, with ``--fresh-ids``, a new one (its
  jobs are taken over once its lease lapses).
- ``restart-postgres``: the deployment runs on PostgreSQL, and the server is restarted mid-run
  (``pg_ctlcluster … restart``). By default a throwaway cluster is made for it (``pg_createcluster
  15 vgchaos`` on a free port; dropped after), so that other users of the machine's shared
  cluster are not cut off; ``--shared-cluster`` restarts ``15 main`` on
  ``$VIDGATE_TEST_POSTGRES_URL`` instead (in a throwaway database). Needs root.
- ``simulator-down``: the simulator stops listening for ``--down`` seconds (its tasks kept, as
  a provider's are while its API is unreachable), then comes back on the same port; the circuit
  breaker's state is sampled from ``GET /v1/admin/providers`` throughout.
- ``full-disk``: the storage directory (``VIDGATE_STORAGE_DIR``) is a ``--disk-mib`` tmpfs
  filled to the last byte before the jobs arrive; ``--free-after`` seconds after the first job
  ends (or the run's end) the filler is deleted, to see whether waiting jobs resume. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    Ledger,
    Simulator,
    Stack,
    drain,
    machine,
    outcomes,
    say,
    submit,
    tally,
)

HERE = Path(__file__).parent
PG_VERSION = "15"


async def progress(stack: Stack, ledger: Ledger) -> dict[str, int]:
    """How many admitted jobs are in each status now."""
    seen = await outcomes(stack.url, stack.key, list(ledger.admitted))
    counts: dict[str, int] = {}
    for video in seen.values():
        state = "unknown" if video is None else str(video.get("status"))
        counts[state] = counts.get(state, 0) + 1
    return counts


async def circuit(stack: Stack) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{stack.url}/v1/admin/providers",
                headers={"Authorization": f"Bearer {stack.key}"},
            )
        for row in response.json().get("data", []):
            if row.get("provider") == "replicate":
                return {k: row.get(k) for k in ("state", "consecutive_failures", "detail")}
        return {"state": "unknown"}
    except (httpx.HTTPError, ValueError) as exc:
        return {"state": f"unreadable: {type(exc).__name__}"}


# -- scenarios -----------------------------------------------------------------------------


async def kill_workers(args: argparse.Namespace, stack: Stack, ledger: Ledger) -> dict[str, Any]:
    events = []
    for loop in range(args.loops):
        await asyncio.sleep(args.every)
        index = loop % args.workers
        name = f"worker-{index}"
        stack.kill(name, signal.SIGKILL)
        events.append({"t": time.time(), "killed": name})
        say(f"kill -9 {name} ({loop + 1}/{args.loops})")
        await asyncio.sleep(args.pause)
        if args.fresh_ids:
            stack.extra_env["VIDGATE_EXECUTOR_ID"] = f"bench-fresh-{loop}"
            stack._spawn(name, ["worker"])
            stack.extra_env.pop("VIDGATE_EXECUTOR_ID")
        else:
            stack.start_worker(index)
        say(f"{name} started again", await progress(stack, ledger))
    return {"kills": len(events), "every_s": args.every, "pause_s": args.pause}


async def restart_postgres(
    args: argparse.Namespace, stack: Stack, ledger: Ledger, cluster: str
) -> dict[str, Any]:
    restarts = []
    for n in range(args.restarts):
        await asyncio.sleep(args.restart_after)
        say("before restart", await progress(stack, ledger))
        began = time.time()
        subprocess.run(["pg_ctlcluster", PG_VERSION, cluster, "restart"], check=True)
        restarts.append(
            {"took_s": round(time.time() - began, 1), "at_admitted": len(ledger.admitted)}
        )
        say(f"postgres {cluster} restarted ({n + 1}/{args.restarts})")
    return {"restarts": restarts, "cluster": cluster}


async def simulator_down(
    args: argparse.Namespace, stack: Stack, ledger: Ledger, sim: Simulator
) -> dict[str, Any]:
    await asyncio.sleep(args.down_after)
    say("before the simulator goes down", await progress(stack, ledger))
    timeline = []
    sim.stop()
    down_at = time.time()
    say(f"simulator down for {args.down} s")
    while time.time() < down_at + args.down:
        timeline.append({"t_s": round(time.time() - down_at), "up": False, **await circuit(stack)})
        await asyncio.sleep(10)
    sim.start()
    up_at = time.time()
    say("simulator up again")
    for _ in range(int(args.watch_after / 10)):
        timeline.append({"t_s": round(time.time() - down_at), "up": True, **await circuit(stack)})
        await asyncio.sleep(10)
    return {"down_s": round(up_at - down_at, 1), "circuit_timeline": timeline}


def fill(path: Path) -> int:
    """Fill the filesystem at ``path`` to the last byte; the filler's size."""
    filler = path / ".filler"
    written = 0
    with filler.open("wb") as handle:
        block = b"\0" * 65536
        try:
            while True:
                handle.write(block)
                handle.flush()
                written += len(block)
        except OSError:
            pass
    try:  # the last partial block
        with filler.open("ab") as handle:
            while True:
                handle.write(b"\0" * 512)
                handle.flush()
                written += 512
    except OSError:
        pass
    return written


async def full_disk(
    args: argparse.Namespace, stack: Stack, ledger: Ledger, storage: Path
) -> dict[str, Any]:
    usage = shutil.disk_usage(storage)
    # Wait until some job has ended (or a while), then free the space and see what resumes.
    waited = 0.0
    while waited < args.free_wait:
        counts = await progress(stack, ledger)
        if counts.get("failed", 0) + counts.get("completed", 0) >= max(1, args.jobs // 4):
            break
        await asyncio.sleep(10)
        waited += 10
    before = await progress(stack, ledger)
    say("with the disk full:", before)
    await asyncio.sleep(args.free_after)
    full_for = await progress(stack, ledger)
    (storage / ".filler").unlink()
    say("space freed:", full_for)
    return {
        "disk_mib": args.disk_mib,
        "free_bytes_when_full": usage.free,
        "statuses_with_disk_full": full_for,
    }


# -- the run -------------------------------------------------------------------------------


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_cluster(name: str) -> str:
    """A throwaway PostgreSQL cluster on a free loopback port; its admin URL."""
    port = free_tcp_port()
    subprocess.run(
        ["pg_createcluster", PG_VERSION, name, "-p", str(port), "--start"],
        check=True,
        capture_output=True,
    )
    sql = "CREATE ROLE vidgate LOGIN CREATEDB PASSWORD 'vidgate-test'"
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-q", "-p", str(port), "-c", sql],
        check=True,
        capture_output=True,
    )
    return f"postgresql://vidgate:vidgate-test@127.0.0.1:{port}/postgres"


def drop_cluster(name: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", PG_VERSION, name], check=False)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"vidgate-chaos-{args.scenario}-"))
    faults = json.loads(args.faults) if args.faults else {}
    sim = Simulator(run_dir / "simulator-media", args.latency, faults, seed=args.seed)
    sim.start()
    result: dict[str, Any] = {
        "scenario": args.scenario,
        "run_dir": str(run_dir),
        "jobs": args.jobs,
        "rate_per_s": args.rate,
        "latency_s": args.latency,
        "deadline_s": args.deadline,
        "workers": args.workers,
        "faults": faults,
        "machine_at_start": machine(),
    }
    admin = os.environ.get("VIDGATE_TEST_POSTGRES_URL") if args.postgres else None
    cluster = None
    storage = None
    if args.scenario == "restart-postgres":
        if args.shared_cluster:
            admin, cluster = os.environ["VIDGATE_TEST_POSTGRES_URL"], "main"
        else:
            cluster = "vgchaos"
            admin = make_cluster(cluster)
    if args.scenario == "full-disk":
        storage = run_dir / "storage"
        storage.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={args.disk_mib}m", "tmpfs", str(storage)],
            check=True,
        )
        result["filler_bytes"] = fill(storage)
    result["database"] = "postgresql" if admin else "sqlite"
    ledger = Ledger()
    try:
        with Stack(
            run_dir, sim, workers=args.workers, postgres_admin_url=admin, storage_dir=storage
        ) as stack:
            say("stack up:", stack.url, "simulator", sim.url, "run dir", run_dir)
            began = time.time()
            feeding = asyncio.create_task(
                submit(
                    stack.url, stack.key, ledger, args.jobs, rate=args.rate, deadline=args.deadline
                )
            )
            if args.scenario == "kill-workers":
                chaos = await kill_workers(args, stack, ledger)
            elif args.scenario == "restart-postgres":
                assert cluster is not None
                chaos = await restart_postgres(args, stack, ledger, cluster)
            elif args.scenario == "simulator-down":
                chaos = await simulator_down(args, stack, ledger, sim)
            else:
                assert storage is not None
                chaos = await full_disk(args, stack, ledger, storage)
            await feeding
            say(f"submitted {args.jobs}: {len(ledger.admitted)} admitted")
            give_up = time.time() + args.deadline + args.margin
            final = await drain(stack.url, stack.key, ledger, give_up_at=give_up)
            result["chaos"] = chaos
            result["counts"] = tally(ledger, final, sim, args.margin)
            result["circuit_at_end"] = await circuit(stack)
            result["tracebacks_in_logs"] = stack.tracebacks()
            result["wall_s"] = round(time.time() - began)
    finally:
        sim.stop()
        if storage is not None:
            subprocess.run(["umount", str(storage)], check=False)
        if cluster == "vgchaos":
            drop_cluster(cluster)
    result["machine_at_end"] = machine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "scenario", choices=("kill-workers", "restart-postgres", "simulator-down", "full-disk")
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="jobs per second")
    parser.add_argument("--latency", type=float, default=10.0, help="seconds per provider task")
    parser.add_argument("--deadline", type=float, default=600.0, help="each job's deadline_seconds")
    parser.add_argument("--margin", type=float, default=120.0, help="past the deadline = stuck")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="on $VIDGATE_TEST_POSTGRES_URL")
    parser.add_argument("--faults", help="the simulator's fault rates as JSON (default none)")
    parser.add_argument("--seed", type=int, default=0)
    # kill-workers
    parser.add_argument("--loops", type=int, default=6)
    parser.add_argument("--every", type=float, default=20.0)
    parser.add_argument("--pause", type=float, default=5.0)
    parser.add_argument("--fresh-ids", action="store_true")
    # restart-postgres
    parser.add_argument("--restarts", type=int, default=1)
    parser.add_argument("--restart-after", type=float, default=40.0)
    parser.add_argument("--shared-cluster", action="store_true")
    # simulator-down
    parser.add_argument("--down", type=float, default=120.0)
    parser.add_argument("--down-after", type=float, default=30.0)
    parser.add_argument("--watch-after", type=float, default=90.0)
    # full-disk
    parser.add_argument("--disk-mib", type=int, default=20)
    parser.add_argument("--free-wait", type=float, default=180.0)
    parser.add_argument("--free-after", type=float, default=30.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = args.out or HERE / f"chaos-{args.scenario}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
