"""Scan a 5 s 720p clip with the real models: wall time and CPU, cold and warm.

    python bench/scan.py [--runs 5] [--out bench/scan-results.json]

Renders the clip with the synthetic renderer (24 fps, AAC audio), then times, in this process
(as one media-lane process runs it): the one decode alone (``sample_video``), each scanner on
its sample, and the whole ``scan_file`` the scan step sends to the lane — cold (the models
loaded in the call) and warm (loaded; the median of ``--runs``). CPU is user + system time of
the process (ONNX Runtime's threads included). Needs the ``safety`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidgate.media.synth import SynthSpec, render
from vidgate.safety.scan import run, scan_file, scanner
from vidgate.safety.scan.frames import sample_video

SCANNERS = ["technical", "nudenet", "open_nsfw"]
UNIFORM = 8


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), _cpu()
    result = fn()
    return time.perf_counter() - wall, _cpu() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("scan-results.json"))
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        spec = SynthSpec(
            prompt="a red fox trotting through fresh snow at dawn",
            seed=7,
            duration=5.0,
            width=1280,
            height=720,
            fps=24,
            audio=True,
        )
        render(spec, clip)
        cold_wall, cold_cpu, cold = timed(lambda: scan_file(str(clip), SCANNERS, UNIFORM, True))
        assert "error" not in cold, cold
        warm = [
            timed(lambda: scan_file(str(clip), SCANNERS, UNIFORM, True)) for _ in range(args.runs)
        ]
        decode = [
            timed(lambda: sample_video(clip, uniform=UNIFORM, audio_expected=True))
            for _ in range(args.runs)
        ]
        sample = decode[-1][2]
        parts = {
            name: [timed(lambda n=name: run(sample, [n])) for _ in range(args.runs)]
            for name in SCANNERS
        }
        for name in SCANNERS:
            scanner(name)  # loaded above

    def median(rows: list[tuple[float, float, Any]], i: int) -> float:
        return round(statistics.median(r[i] for r in rows), 3)

    result = {
        "clip": "5 s, 1280x720, 24 fps, H.264 + AAC (synthetic)",
        "frames_decoded": cold["frames"],
        "frames_scanned": len(cold["sampled"]),
        "scanners": SCANNERS,
        "cold": {"wall_s": round(cold_wall, 3), "cpu_s": round(cold_cpu, 3)},
        "warm": {"wall_s": median(warm, 0), "cpu_s": median(warm, 1), "runs": args.runs},
        "decode": {"wall_s": median(decode, 0), "cpu_s": median(decode, 1)},
        "per_scanner": {
            name: {"wall_s": median(rows, 0), "cpu_s": median(rows, 1)}
            for name, rows in parts.items()
        },
        "findings": cold["findings"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("cold", "warm", "decode", "per_scanner")}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
