"""Simulator benchmark: how cheaply the simulator holds many tasks, so that a load run measures
vidgate and not its stand-in.

    python bench/simulator.py [--tasks 10000] [--latency 2] [--sample 50] [--out FILE]

In one process, through the Replicate twin's HTTP API (httpx's ASGI transport, no sockets):
creates ``--tasks`` predictions (Seedance 1 Pro, 2 s at 480p, a distinct prompt each) with
``--concurrency`` requests in flight, waits out the latency, reads every prediction once, then
downloads the outputs of ``--sample`` of them; with ``--webhook-tasks N``, N more with a webhook,
and the CPU spent watching them while they run (``--idle`` seconds). Reports the wall time and
tasks/s of each phase, the process's CPU time, its resident set (peak and per task), the
simulator's memory per task (tracemalloc over the creates, with ``--tracemalloc``) and how many
distinct renders were made.

The simulator runs with ``generic_renders`` (every output the same card, so one render per
distinct size, duration, fps, audio and output fault) where the installed simulator has it;
an older one renders per task, which is what the "before" figures measure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

from vidgate.simulator.app import create_app
from vidgate.simulator.state import SimulatorConfig

MODEL = "/replicate/v1/models/bytedance/seedance-1-pro/predictions"
HEADERS = {"Authorization": "Bearer r8_bench"}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def gather_limited(count: int, limit: int, make: Any) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(index: int) -> Any:
        async with semaphore:
            return await make(index)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    media = Path(tempfile.mkdtemp(prefix="vidgate-bench-sim-"))
    options: dict[str, Any] = {"latency": args.latency, "media_dir": media}
    if args.twin == "openai":  # OpenAI's webhooks are the project's, not the request's
        options["openai_webhook_url"] = "http://127.0.0.1:9/never-called"
    generic = "generic_renders" in {f.name for f in dataclasses.fields(SimulatorConfig)}
    if generic:
        options["generic_renders"] = True
    app = create_app(SimulatorConfig(**options))
    transport = httpx.ASGITransport(app=app)
    results: dict[str, Any] = {"tasks": args.tasks, "latency_s": args.latency}
    results["generic_renders"] = generic
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1:8790", headers=HEADERS, timeout=120
    ) as client:

        async def create(index: int) -> str:
            body = {
                "input": {
                    "prompt": f"bench task {index}",
                    "duration": 2,
                    "resolution": "480p",
                    "aspect_ratio": "16:9",
                }
            }
            response = await client.post(MODEL, json=body)
            response.raise_for_status()
            task_id: str = response.json()["id"]
            return task_id

        rss_before = rss_mib()
        if args.tracemalloc:
            tracemalloc.start()
        cpu, wall = time.process_time(), time.perf_counter()
        ids = await gather_limited(args.tasks, args.concurrency, create)
        create_wall = time.perf_counter() - wall
        results["create"] = {
            "wall_s": round(create_wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "tasks_per_s": round(args.tasks / create_wall),
        }
        if args.tracemalloc:
            traced, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results["create"]["traced_bytes_per_task"] = round(traced / args.tasks)
        results["rss_per_task_kib"] = round((rss_mib() - rss_before) * 1024 / args.tasks, 1)

        # The last task is done one latency after it was created.
        await asyncio.sleep(max(0.0, args.latency - (time.perf_counter() - wall) + create_wall))
        statuses: dict[str, int] = {}
        outputs: list[str] = []

        async def read(index: int) -> None:
            response = await client.get(f"/replicate/v1/predictions/{ids[index]}")
            prediction = response.json()
            statuses[prediction["status"]] = statuses.get(prediction["status"], 0) + 1
            if index < args.sample and prediction["output"]:
                output = prediction["output"]
                outputs.append(output if isinstance(output, str) else output[0])

        cpu, wall = time.process_time(), time.perf_counter()
        await gather_limited(args.tasks, args.concurrency, read)
        read_wall = time.perf_counter() - wall
        results["poll"] = {
            "wall_s": round(read_wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "tasks_per_s": round(args.tasks / read_wall),
            "statuses": statuses,
        }

        async def download(index: int) -> int:
            response = await client.get(outputs[index])
            response.raise_for_status()
            return len(response.content)

        cpu, wall = time.process_time(), time.perf_counter()
        sizes = await gather_limited(len(outputs), 8, download)
        results["download"] = {
            "files": len(sizes),
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
        }
        if args.webhook_tasks:
            results["webhook_watch"] = await idle_watchers(client, args)
        stats = (await client.get("/_simulator/stats")).json()
        results["renders"] = stats.get(
            "renders",
            len(list(media.glob("*.mp4"))),  # before: one file per rendered task
        )
    results["rss_mib"] = round(rss_mib(), 1)
    results["peak_rss_mib"] = round(peak_rss_mib(), 1)
    results["cpu_total_s"] = round(time.process_time(), 2)
    return results


#: ``--twin``: how each twin is asked for a task with a webhook (path, headers, body, query).
WEBHOOK_CREATES: dict[str, tuple[str, dict[str, str], dict[str, Any], dict[str, str]]] = {
    "replicate": (
        MODEL,
        HEADERS,
        {
            "input": {"prompt": "watched", "duration": 2, "resolution": "480p"},
            "webhook": "http://127.0.0.1:9/never-called",
            "webhook_events_filter": ["completed"],
        },
        {},
    ),
    "luma": (
        "/luma/dream-machine/v1/generations/video",
        {"Authorization": "Bearer luma-bench"},
        {"model": "ray-2", "prompt": "watched", "callback_url": "http://127.0.0.1:9/never"},
        {},
    ),
    "fal": (
        "/fal/fal-ai/minimax/hailuo-02/standard/text-to-video",
        {"Authorization": "Key bench:secret"},
        {"prompt": "watched"},
        {"fal_webhook": "http://127.0.0.1:9/never-called"},
    ),
    "openai": (
        "/openai/v1/videos",
        {"Authorization": "Bearer sk-bench"},
        {"model": "sora-2", "prompt": "watched", "seconds": "4"},
        {},
    ),
}


async def idle_watchers(client: httpx.AsyncClient, args: argparse.Namespace) -> dict[str, Any]:
    """Creates ``--webhook-tasks`` tasks on ``--twin`` with a webhook (for Replicate a
    ``completed`` one, as vidgate's adapter subscribes, less ``start``; OpenAI's project
    webhook) that never finish (``hang``), and measures the CPU the simulator spends over
    ``--idle`` seconds while they run: the cost of watching them."""
    path, headers, body, params = WEBHOOK_CREATES[args.twin]
    headers = {**headers, "X-Simulator-Fault": "hang"}  # never finishes: watched throughout

    async def create(index: int) -> None:
        response = await client.post(path, json=body, headers=headers, params=params)
        response.raise_for_status()

    await gather_limited(args.webhook_tasks, args.concurrency, create)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(args.idle)
    elapsed = time.perf_counter() - wall
    loop = asyncio.get_running_loop()
    return {
        "twin": args.twin,
        # What follows the waiting tasks, whatever the machine's load: coroutines that wake on
        # their own (a watcher each, before) and entries in the loop's timer heap.
        "asyncio_tasks": len(asyncio.all_tasks()),
        "loop_timers": len(getattr(loop, "_scheduled", ())),
        "tasks": args.webhook_tasks,
        "idle_s": round(elapsed, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "cpu_percent": round(100 * (time.process_time() - cpu) / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--webhook-tasks", type=int, default=0)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--twin", choices=sorted(WEBHOOK_CREATES), default="replicate")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    results = asyncio.run(run(args))
    results["wall_total_s"] = round(time.perf_counter() - started, 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
