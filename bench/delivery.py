"""The whole post-processing of one output: wall time and CPU, for a 5 s 720p and a 10 s 1080p
clip, with the default delivery profile.

    python bench/delivery.py [--out bench/delivery-results.json] [--profile JSON]

Renders each clip with the synthetic renderer (24 fps, AAC audio: a browser-safe H.264 MP4, as
most providers send), then times in this process, one after the other, what the media lane runs
for a finished job: ``inspect_file`` (probe, validation's decode, the thumbnail), ``scan_file``
(the technical checks and the installed models), and ``delivery.build.build_file`` (remux or
encode, the tiers, HLS, poster, sprite, preview). CPU is user + system time of the process,
encoder threads included. The aim: the total well under the clip's own duration.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidgate.delivery.build import build_file
from vidgate.delivery.profile import parse_profile
from vidgate.delivery.renditions import H264_PRESET
from vidgate.media.lane import inspect_file
from vidgate.media.synth import SynthSpec, render
from vidgate.safety.scan import scan_file

CLIPS = {"5s-720p": (5.0, 1280, 720), "10s-1080p": (10.0, 1920, 1080)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), _cpu()
    result = fn()
    assert "error" not in result, result["error"]
    return {"wall": round(time.perf_counter() - wall, 3), "cpu": round(_cpu() - cpu, 3)}


def scanners() -> list[str]:
    names = ["technical"]
    names += [n for n in ("nudenet",) if importlib.util.find_spec(n) is not None]
    return names


def run_clip(
    folder: Path, seconds: float, width: int, height: int, profile: dict[str, Any]
) -> dict[str, Any]:
    clip = folder / f"clip-{width}x{height}.mp4"
    render(
        SynthSpec(
            prompt="a red fox trotting through fresh snow at dawn",
            seed=7,
            duration=seconds,
            width=width,
            height=height,
            fps=24,
            audio=True,
        ),
        clip,
    )
    names = scanners()
    parts = {
        "inspect": timed(lambda: inspect_file(str(clip), str(folder / "thumb.jpg"))),
        "scan": timed(lambda: scan_file(str(clip), names, 8, True)),
        "deliver": timed(lambda: build_file(str(clip), str(folder / f"out-{width}"), profile)),
    }
    made = sorted(p.name for p in (folder / f"out-{width}").iterdir())
    total = {k: round(sum(p[k] for p in parts.values()), 3) for k in ("wall", "cpu")}
    return {
        "clip_seconds": seconds,
        "size": f"{width}x{height}",
        "scanners": names,
        "parts": parts,
        "total": total,
        "wall_per_clip_second": round(total["wall"] / seconds, 3),
        "outputs": made,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("delivery-results.json")
    )
    parser.add_argument(
        "--profile", default=None, help="a delivery profile (JSON); default: the default"
    )
    args = parser.parse_args()
    profile = parse_profile(args.profile).as_dict()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            name: run_clip(Path(tmp) / name, *spec, profile)
            for name, spec in CLIPS.items()
            if (Path(tmp) / name).mkdir() is None
        }
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "profile": profile,
        "x264_preset": H264_PRESET,
        "clips": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
