"""One decode of an output video into the sample every scanner reads (:class:`MediaSample`).

Validation (``media/inspect.py``) decodes only a handful of keyframes, which is not enough to
find scene changes or a frozen stretch, so the scan decodes the video once more, once: every
frame goes through the decoder a single time, and for each one

- a small grey grid (:data:`GRID`) gives its brightness, contrast and change from the previous
  frame — the technical checks read these figures for every frame;
- a frame is kept at full size (at most :data:`MAX_SIDE` on its long side) when it is the first,
  the last, the first at or after one of ``uniform`` evenly spread times, or the first frame of
  a scene (a change above :data:`SCENE_CHANGE`; at most :data:`MAX_SCENES` of them) — those go
  to the models.

The audio stream, when there is one, is decoded in the same pass for its span and its peak.
Everything unreadable raises :class:`~vidgate.exceptions.MediaUnreadable` (the file passed
validation, so this is rare).
"""

from __future__ import annotations

from pathlib import Path

import av
import av.audio.frame
import av.container
import av.video.frame
import numpy as np
from PIL import Image, UnidentifiedImageError

from vidgate.exceptions import MediaUnreadable

from .base import MediaSample, SampledFrame

__all__ = ["GRID", "MAX_SCENES", "MAX_SIDE", "SCENE_CHANGE", "sample_image", "sample_video"]

#: The grey grid the per-frame figures are computed on (width, height).
GRID = (64, 36)
#: A kept frame's longest side, in pixels (the models scale to 224-320 anyway).
MAX_SIDE = 640
#: Mean absolute luma change (0-255, on the grid) that starts a new scene.
SCENE_CHANGE = 28.0
#: At most this many scene-change frames are kept (the uniform ones cover the rest).
MAX_SCENES = 8

_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)


def _scaled(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(width, height, 1))
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)


class _Collector:
    """Keeps figures for every frame and full-size copies of the frames worth scanning."""

    def __init__(self, claimed: float, uniform: int) -> None:
        self.targets = [claimed * (k + 1) / (uniform + 1) for k in range(uniform)]
        self.next_target = 0
        self.brightness: list[float] = []
        self.contrast: list[float] = []
        self.change: list[float] = []
        self.kept: list[SampledFrame] = []
        self.scenes = 0
        self.previous: np.ndarray | None = None
        self.last: tuple[int, float, av.video.frame.VideoFrame] | None = None
        self.first_time: float | None = None
        self.end_time = 0.0

    def frame(self, frame: av.video.frame.VideoFrame, duration: float) -> None:
        index = len(self.brightness)
        time = float(frame.time) if frame.time is not None else index * duration
        grid = frame.reformat(width=GRID[0], height=GRID[1], format="gray").to_ndarray()
        luma = grid.astype(np.float32)
        change = 0.0 if self.previous is None else float(np.abs(luma - self.previous).mean())
        self.previous = luma
        self.brightness.append(float(luma.mean()))
        self.contrast.append(float(luma.std()))
        self.change.append(change)
        self.first_time = time if self.first_time is None else min(self.first_time, time)
        self.end_time = max(self.end_time, time + duration)
        reason: str | None = None
        if index == 0:
            reason = "first"
        elif change >= SCENE_CHANGE and self.scenes < MAX_SCENES:
            reason = "scene"
            self.scenes += 1
        while self.next_target < len(self.targets) and time >= self.targets[self.next_target]:
            self.next_target += 1
            reason = reason or "uniform"
        if reason is not None:
            self.keep(index, time, frame, reason)
        self.last = (index, time, frame)

    def keep(self, index: int, time: float, frame: av.video.frame.VideoFrame, reason: str) -> None:
        width, height = _scaled(frame.width, frame.height)
        rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        self.kept.append(SampledFrame(index, time, reason, rgb))  # type: ignore[arg-type]

    def finish(self) -> None:
        if self.last is not None and (not self.kept or self.kept[-1].index != self.last[0]):
            self.keep(*self.last, "last")


def _claimed(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """The longest duration the headers claim (the container's, the video stream's)."""
    claims = [0.0]
    if container.duration:
        claims.append(container.duration / av.time_base)
    if stream.duration and stream.time_base:
        claims.append(float(stream.duration * stream.time_base))
    return max(claims)


def sample_video(
    path: str | Path, *, uniform: int = 8, audio_expected: bool = False
) -> MediaSample:
    """Decode the video at ``path`` once into a :class:`MediaSample` (see the module
    docstring): ``uniform`` evenly spread frames besides the first, the last and the scenes'."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            return _sample(container, path, uniform, audio_expected)
    except MediaUnreadable:
        raise
    except _ERRORS as exc:
        raise MediaUnreadable(
            f"{path}: cannot decode the video to scan it ({exc})", details={"path": str(path)}
        ) from exc


def _sample(
    container: av.container.InputContainer, path: Path, uniform: int, audio_expected: bool
) -> MediaSample:
    if not container.streams.video:
        raise MediaUnreadable(f"{path}: no video stream to scan", details={"path": str(path)})
    video = container.streams.video[0]
    video.codec_context.thread_type = "AUTO"
    audio = container.streams.audio[0] if container.streams.audio else None
    rate = video.average_rate or video.guessed_rate
    fps = float(rate) if rate else 0.0
    frame_duration = 1.0 / fps if fps else 0.0
    claimed = _claimed(container, video)
    collector = _Collector(claimed, max(0, uniform))
    peak, audio_start, audio_end = 0.0, None, 0.0
    streams = [video] if audio is None else [video, audio]
    for packet in container.demux(*streams):
        for decoded in packet.decode():
            if isinstance(decoded, av.video.frame.VideoFrame):
                collector.frame(decoded, frame_duration)
            elif isinstance(decoded, av.audio.frame.AudioFrame):
                samples = decoded.to_ndarray()
                if samples.size:
                    peak = max(peak, float(np.abs(samples.astype(np.float32)).max()))
                start = float(decoded.time) if decoded.time is not None else 0.0
                audio_start = start if audio_start is None else min(audio_start, start)
                audio_end = max(audio_end, start + decoded.samples / (decoded.sample_rate or 1))
    collector.finish()
    if not collector.brightness:
        raise MediaUnreadable(f"{path}: no video frame decodes", details={"path": str(path)})
    span = collector.end_time - (collector.first_time or 0.0)
    return MediaSample(
        kind="video",
        frames=collector.kept,
        brightness=np.asarray(collector.brightness, np.float32),
        contrast=np.asarray(collector.contrast, np.float32),
        change=np.asarray(collector.change, np.float32),
        fps=fps,
        video_span=span,
        claimed_duration=max(claimed, span),
        has_audio=audio is not None,
        audio_span=audio_end - (audio_start or 0.0) if audio_start is not None else 0.0,
        audio_peak=min(peak, 1.0),
        audio_expected=audio_expected,
    )


def sample_image(path: str | Path) -> MediaSample:
    """A still image as a sample of one frame (for input images)."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MediaUnreadable(
            f"{path}: not an image that can be scanned ({exc})", details={"path": str(path)}
        ) from exc
    width, height = _scaled(*image.size)
    rgb = np.asarray(image.resize((width, height)), dtype=np.uint8)
    grey = np.asarray(image.convert("L").resize(GRID), dtype=np.float32)
    return MediaSample(
        kind="image",
        frames=[SampledFrame(0, 0.0, "image", rgb)],
        brightness=np.asarray([grey.mean()], np.float32),
        contrast=np.asarray([grey.std()], np.float32),
        change=np.zeros(1, np.float32),
    )
