"""Media benchmark: CPU time to validate one output and make its thumbnail, before and after.

    python bench/media.py [--repeat 5] [--out bench/media-results.json]

Two 5 s 720p clips at 24 fps, rendered once into a temporary directory:
- ``synthetic``: the simulator's own render (``media/synth.py``: x264, a keyframe every 2 s,
  AAC audio), about 0.25 MB;
- ``busy``: moving noise encoded with x264's defaults (one keyframe for the whole clip, B-frames)
  at 4.3 Mbit/s, about 2.7 MB, the kind of file the issue measured.

For each clip, the median over ``--repeat`` runs of this process's CPU time (user + system, every
thread; ``getrusage``) and wall time for:
- ``before``: what the validate and thumbnail steps did until now, ``probe(decode=True)`` (every
  frame decoded, with frame threads) then ``thumbnail()`` (a second open, a seek, a decode to a
  third of the way in);
- ``after``: ``inspect(thumbnail_to=…)``, one open: headers, every packet demuxed, a sample of
  frames decoded, the thumbnail from that decode.

Then the media lane (``media/lane.py``) as the engine uses it: ``--clips`` validations of each
clip submitted at once to a lane of ``--workers`` processes; reports clips per second, the lane
processes' CPU per clip (``RUSAGE_CHILDREN`` after the pool is shut down, start-up included) and
the CPU the submitting process spent meanwhile (what the event loop pays per clip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vidgate.media.inspect import inspect
from vidgate.media.lane import MediaLane, inspect_file, unpack
from vidgate.media.probe import probe
from vidgate.media.synth import SynthSpec, render
from vidgate.media.thumbnail import thumbnail

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 24, 5


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def synthetic_clip(path: Path) -> Path:
    spec = SynthSpec(
        prompt="A red fox trotting through fresh snow at golden hour",
        seed=7,
        fps=FPS,
        duration=float(SECONDS),
        width=WIDTH,
        height=HEIGHT,
        audio=True,
    )
    render(spec, path)
    return path


def busy_clip(path: Path) -> Path:
    """Moving, blurred noise: hard to compress, so every frame carries real data."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (HEIGHT // 8 + 40, WIDTH // 8 + 40, 3), dtype=np.uint8)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = 4_300_000
        for index in range(FPS * SECONDS):
            small = np.roll(base, (index, 2 * index), axis=(0, 1))[: HEIGHT // 8, : WIDTH // 8]
            grain = rng.integers(0, 24, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
            tile = np.repeat(np.repeat(small // 2 + grain, 8, axis=0), 8, axis=1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(tile), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _measure(work: Callable[[], object], repeat: int) -> dict[str, float]:
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(repeat):
        c0, w0 = _cpu(), time.perf_counter()
        work()
        cpu.append(_cpu() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        "cpu_s": round(statistics.median(cpu), 3),
        "wall_s": round(statistics.median(wall), 3),
    }


def bench(clip: Path, scratch: Path, repeat: int) -> dict[str, Any]:
    thumb = scratch / "thumbnail.jpg"

    def before() -> None:
        probe(clip, decode=True)
        thumbnail(clip, thumb)

    def after() -> None:
        inspect(clip, thumbnail_to=thumb)

    before()  # warm up: imports, codec tables, page cache
    after()
    with av.open(str(clip)) as container:
        keyframes = sum(1 for p in container.demux(video=0) if p.size and p.is_keyframe)
    result = {
        "size_mb": round(clip.stat().st_size / 1e6, 2),
        "keyframes": keyframes,
        "before": _measure(before, repeat),
        "after": _measure(after, repeat),
    }
    result["cpu_ratio"] = round(result["before"]["cpu_s"] / max(result["after"]["cpu_s"], 1e-6), 1)
    return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lane_bench(clip: Path, scratch: Path, clips: int, workers: int) -> dict[str, Any]:
    async def burst() -> None:
        lane = MediaLane(workers)
        try:
            await lane.run(inspect_file, str(clip), None)  # start the processes
            calls = [
                lane.run(inspect_file, str(clip), str(scratch / f"lane-{i}.jpg"))
                for i in range(clips)
            ]
            for result in await asyncio.gather(*calls):
                unpack(result)
        finally:
            lane.shutdown()

    child0, self0, wall0 = _children_cpu(), _cpu(), time.perf_counter()
    asyncio.run(burst())
    wall = time.perf_counter() - wall0
    return {
        "clips": clips,
        "workers": workers,
        "clips_per_s": round(clips / wall, 1),
        "lane_cpu_per_clip_s": round((_children_cpu() - child0) / (clips + 1), 3),
        "caller_cpu_per_clip_ms": round((_cpu() - self0) / clips * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clips", type=int, default=20, help="clips per lane burst")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1) - 1))
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "pyav": av.__version__,
        "clips": {},
    }
    with tempfile.TemporaryDirectory(prefix="vidgate-bench-media-") as tmp:
        scratch = Path(tmp)
        for name, make in (("synthetic", synthetic_clip), ("busy", busy_clip)):
            clip = make(scratch / f"{name}.mp4")
            results["clips"][name] = bench(clip, scratch, args.repeat)
            results["clips"][name]["lane"] = lane_bench(clip, scratch, args.clips, args.workers)
    print("| clip | size | keyframes | before: CPU / wall | after: CPU / wall | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for name, row in results["clips"].items():
        b, a = row["before"], row["after"]
        print(
            f"| {name} | {row['size_mb']} MB | {row['keyframes']} "
            f"| {b['cpu_s']} s / {b['wall_s']} s | {a['cpu_s']} s / {a['wall_s']} s "
            f"| {row['cpu_ratio']}x |"
        )
    print()
    print("| clip | lane workers | clips at once | clips/s | lane CPU/clip | caller CPU/clip |")
    print("|---|---|---|---|---|---|")
    for name, row in results["clips"].items():
        lane = row["lane"]
        print(
            f"| {name} | {lane['workers']} | {lane['clips']} | {lane['clips_per_s']} "
            f"| {lane['lane_cpu_per_clip_s']} s | {lane['caller_cpu_per_clip_ms']} ms |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
