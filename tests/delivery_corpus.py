"""A corpus of odd provider-like outputs, made with PyAV for the delivery tests.

Each maker writes one tiny clip (1-2 s, at most 320 pixels on the long side) exhibiting one
oddity a provider may send: HEVC, VP9 in WebM, 10-bit, variable frame rate, a rotation in the
display matrix, odd dimensions, an MP4 with its index at the end, H.264 in a QuickTime file,
no audio, a silent track. The picture is a moving gradient with a square, so encoders and
scene checks have something to see.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import av.audio.frame
import av.video.frame
import numpy as np

__all__ = ["CORPUS", "make"]

_RATE = 48_000


def _picture(width: int, height: int, index: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    r = (xs * 255 // max(1, width - 1) + index * 7) % 256
    g = (ys * 255 // max(1, height - 1) + index * 3) % 256
    b = np.full_like(r, (index * 11) % 256)
    image = np.stack([r, g, b], axis=-1).astype(np.uint8)
    side = min(width, height) // 4
    x = (index * 5) % max(1, width - side)
    image[side : 2 * side, x : x + side] = (255, 255, 255)
    return image


def _write(
    path: Path,
    *,
    codec: str = "libx264",
    width: int = 320,
    height: int = 180,
    fps: int = 24,
    seconds: float = 1.5,
    pix_fmt: str = "yuv420p",
    audio: str | None = "aac",
    silent: bool = False,
    faststart: bool = True,
    rotation: int = 0,
    times: list[float] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    container_options = {"movflags": "+faststart"} if faststart and path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=container_options) as out:
        video = out.add_stream(codec, rate=fps, options=options or {})
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if times is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=_RATE, layout="stereo") if audio else None
        stamps = times if times is not None else [i / fps for i in range(round(seconds * fps))]
        for index, at in enumerate(stamps):
            frame = av.video.frame.VideoFrame.from_ndarray(_picture(width, height, index), "rgb24")
            frame = frame.reformat(format=pix_fmt)
            if times is not None:
                frame.pts, frame.time_base = round(at * 1000), Fraction(1, 1000)
            else:
                frame.pts, frame.time_base = index, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            total = round((stamps[-1] + 1 / fps) * _RATE)
            step = 1024
            for start in range(0, total, step):
                n = min(step, total - start)
                t = (np.arange(start, start + n) / _RATE).astype(np.float32)
                wave = np.zeros(n, np.float32) if silent else 0.2 * np.sin(2 * np.pi * 440 * t)
                samples = np.stack([wave, wave]).astype(np.float32)
                chunk = av.audio.frame.AudioFrame.from_ndarray(samples, "fltp", "stereo")
                chunk.sample_rate, chunk.pts = _RATE, start
                chunk.time_base = Fraction(1, _RATE)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


def _vfr_times() -> list[float]:
    at, times = 0.0, []
    for index in range(30):
        times.append(round(at, 3))
        at += (1 / 30) if index % 3 else (1 / 10)  # 30 fps with a long frame every third
    return times


#: name → (file name, maker). Each maker takes the folder to write in.
CORPUS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "safe_h264": ("safe.mp4", lambda d: _write(d / "safe.mp4")),
    "hevc": (
        "hevc.mp4",
        lambda d: _write(
            d / "hevc.mp4", codec="libx265", options={"x265-params": "log-level=error"}
        ),
    ),
    "vp9_webm": (
        "vp9.webm",
        lambda d: _write(
            d / "vp9.webm",
            codec="libvpx-vp9",
            audio="libopus",
            options={"deadline": "realtime", "cpu-used": "8"},
        ),
    ),
    "ten_bit": (
        "tenbit.mp4",
        lambda d: _write(
            d / "tenbit.mp4",
            codec="libx265",
            pix_fmt="yuv420p10le",
            options={"x265-params": "log-level=error"},
        ),
    ),
    "vfr": ("vfr.mp4", lambda d: _write(d / "vfr.mp4", times=_vfr_times())),
    "rotated": ("rotated.mp4", lambda d: _write(d / "rotated.mp4", rotation=90)),
    "odd_size": (
        "odd.mp4",
        lambda d: _write(d / "odd.mp4", width=321, height=179, pix_fmt="yuv444p"),
    ),
    "no_faststart": ("tail.mp4", lambda d: _write(d / "tail.mp4", faststart=False)),
    "quicktime": ("clip.mov", lambda d: _write(d / "clip.mov")),
    "no_audio": ("mute.mp4", lambda d: _write(d / "mute.mp4", audio=None)),
    "silent_audio": ("silent.mp4", lambda d: _write(d / "silent.mp4", silent=True)),
}


def make(name: str, folder: Path) -> Path:
    """Write the corpus clip ``name`` into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    return CORPUS[name][1](folder)
