"""A JPEG thumbnail from one frame of a video, with PyAV and Pillow (no system ffmpeg).

The frame is picked by time (a third of the way in by default: past fades and title cards, before
the end), scaled down to a maximum width keeping the display aspect ratio, and written atomically.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.video.frame
import av.video.stream
from PIL import Image

from vidgate.exceptions import MediaUnreadable
from vidgate.media.probe import open_video

__all__ = ["frame_image", "save_jpeg", "thumbnail"]

_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _frame_at(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, at: float
) -> av.video.frame.VideoFrame | None:
    """The last frame that starts at or before ``at`` seconds (or the first frame after a seek
    that lands late); ``None`` if the stream yields no frame at all."""
    if at > 0 and stream.time_base:
        # Seeks to the keyframe at or before the target; we decode forward from there.
        container.seek(int(at / stream.time_base), stream=stream, backward=True)
    chosen: av.video.frame.VideoFrame | None = None
    rate = stream.average_rate or stream.guessed_rate
    half_frame = 0.5 / float(rate) if rate else 0.0
    for frame in container.decode(stream):
        if chosen is not None and frame.time is not None and frame.time > at + half_frame:
            break
        chosen = frame
        if frame.time is not None and frame.time + half_frame >= at:
            break
    return chosen


def thumbnail(
    video: Path, out: Path, *, at: float | None = None, max_width: int = 640, quality: int = 85
) -> tuple[int, int]:
    """Write a JPEG of the frame at ``at`` seconds of ``video`` to ``out``; return its size.

    ``at`` defaults to a third of the duration and is clamped into the clip. The image is scaled
    down (never up) to at most ``max_width`` pixels wide, keeping the display aspect ratio.
    The JPEG is written to a temporary sibling and moved into place with ``os.replace``.
    Raises :class:`MediaUnreadable` if no frame can be decoded.
    """
    if max_width < 1:
        raise ValueError(f"max_width must be at least 1, not {max_width}")
    if not 1 <= quality <= 95:
        raise ValueError(f"JPEG quality must be between 1 and 95, not {quality}")
    video, out = Path(video), Path(out)
    return save_jpeg(_grab(video, at), out, max_width=max_width, quality=quality)


def save_jpeg(
    image: Image.Image, out: Path, *, max_width: int = 640, quality: int = 85
) -> tuple[int, int]:
    """Scale ``image`` down (never up) to at most ``max_width`` wide and write it to ``out`` as a
    JPEG, atomically (a temporary sibling moved into place); return the written size."""
    width, height = image.size
    if width > max_width:
        height = max(1, round(height * max_width / width))
        width = max_width
        image = image.resize((width, height), Image.Resampling.LANCZOS)

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="JPEG", quality=quality, optimize=True)
        os.replace(name, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return width, height


def frame_image(frame: av.video.frame.VideoFrame, sar: Fraction | None) -> Image.Image:
    """A decoded frame as an RGB image at its display aspect ratio (anamorphic video is
    stretched by its sample aspect ratio ``sar``)."""
    image = Image.fromarray(frame.to_ndarray(format="rgb24"), "RGB")
    if sar and sar != 1:
        display_width = max(1, round(image.width * float(sar)))
        image = image.resize((display_width, image.height), Image.Resampling.LANCZOS)
    return image


def _grab(video: Path, at: float | None) -> Image.Image:
    """Decode the frame at ``at`` seconds as an RGB image at its display aspect ratio."""
    container, stream = open_video(video)
    try:
        with container:
            stream.codec_context.thread_type = "AUTO"
            duration = _duration(container, stream)
            rate = stream.average_rate or stream.guessed_rate
            last = max(0.0, duration - (1.0 / float(rate) if rate else 0.0))
            target = duration / 3 if at is None else at
            target = min(max(0.0, target), last)
            frame = _frame_at(container, stream, target)
            if frame is None and target > 0:
                container.seek(0)
                frame = _frame_at(container, stream, 0.0)
            if frame is None:
                raise MediaUnreadable(
                    f"{video}: no video frame could be decoded", details={"path": str(video)}
                )
            return frame_image(frame, stream.sample_aspect_ratio)
    except MediaUnreadable:
        raise
    except _ERRORS as exc:
        raise MediaUnreadable(
            f"{video}: cannot decode a frame ({exc})", details={"path": str(video)}
        ) from exc
