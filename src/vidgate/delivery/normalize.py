"""What a source needs before it plays everywhere, and the one filter chain that gives it.

:func:`analyse` looks at the source once (headers, one decoded frame for the display matrix,
the video packets' timestamps — no full decode) and returns :class:`Source`: its display size
after rotation, the constant frame rate the delivery uses, its audio, and whether it already is
a browser-safe H.264/AAC MP4 (then the source-size rendition is a remux, not an encode).

:func:`frame_chain` is the FFmpeg filter graph every decoded frame goes through: the rotation
applied (``transpose``/``hflip,vflip``: players that ignore the display matrix show it upright),
an odd width or height cropped by one pixel to even (4:2:0 needs even sizes), the frame rate made
constant (``fps``: frames duplicated or dropped on a fixed grid, so a variable-rate source
becomes CFR), and the pixels converted to 8-bit ``yuv420p`` (10-bit, 4:4:4 and the like do not
decode in every browser).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.filter
import av.video.stream

from vidgate.exceptions import MediaUnreadable
from vidgate.media.probe import open_video, probe

__all__ = ["MAX_FPS", "Source", "analyse", "frame_chain"]

#: The highest frame rate delivered; a faster source is resampled down to it.
MAX_FPS = 60
#: H.264 profiles every browser decodes.
_SAFE_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})


@dataclass(frozen=True)
class Source:
    """What :func:`analyse` found (see the module docstring)."""

    path: Path
    container: str
    video_codec: str | None
    pix_fmt: str | None
    #: The stored frame size, and the size shown (rotated, cropped to even).
    coded_width: int
    coded_height: int
    width: int
    height: int
    #: Counter-clockwise degrees of the display matrix (0, 90, 180 or 270).
    rotation: int
    duration: float
    fps: Fraction
    constant_rate: bool
    has_audio: bool
    audio_codec: str | None
    #: Already a browser-safe H.264 (+AAC) MP4 at its own size: remux it, do not encode it.
    browser_safe: bool
    faststart: bool


def _rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    for frame in container.decode(stream):
        return round(frame.rotation or 0) % 360
    return 0


def _constant_rate(path: Path, index: int) -> bool:
    """Whether every video packet lasts as long as the others (one tick of slack)."""
    stamps: list[int] = []
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams[index]):
            if packet.pts is not None and packet.size:
                stamps.append(packet.pts)
    stamps.sort()
    steps = {b - a for a, b in itertools.pairwise(stamps)}
    return not steps or max(steps) - min(steps) <= 1


def _faststart(path: Path) -> bool:
    """Whether an MP4's index (``moov``) comes before its media (``mdat``)."""
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = int.from_bytes(handle.read(8), "big") - 8
            elif size == 0:
                return False
            handle.seek(size - 8, 1)
    return False


def _fps(stream: av.video.stream.VideoStream) -> Fraction:
    """The rate the delivery runs at: the stream's base rate (every timestamp falls on it),
    else its average; at most ``MAX_FPS``, at least 1."""
    rate = stream.guessed_rate or stream.base_rate or stream.average_rate
    value = Fraction(rate) if rate else Fraction(30)
    if value > MAX_FPS or value < 1:
        value = Fraction(stream.average_rate or 30)
    value = min(max(value, Fraction(1)), Fraction(MAX_FPS))
    return value.limit_denominator(1001)


def analyse(path: Path) -> Source:
    """Look at ``path`` (see the module docstring). Raises ``MediaUnreadable``."""
    info = probe(path)
    container, stream = open_video(path)
    with container:
        context = stream.codec_context
        rotation = _rotation(container, stream)
        profile = context.profile
        sar = stream.sample_aspect_ratio
        streams = len(container.streams.video), len(container.streams.audio)
        index = stream.index
        fps = _fps(stream)
    coded_w, coded_h = context.width, context.height
    shown_w, shown_h = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    width, height = shown_w - shown_w % 2, shown_h - shown_h % 2
    if width < 2 or height < 2:
        raise MediaUnreadable(f"{path}: a {coded_w}x{coded_h} video is too small to deliver")
    constant = _constant_rate(path, index)
    faststart = info.container == "mp4" and _faststart(path)
    safe = (
        info.container in ("mp4", "mov")  # QuickTime's H.264/AAC remuxes into MP4 as it is
        and info.video_codec == "h264"
        and info.pix_fmt in ("yuv420p", "yuvj420p")
        and profile in _SAFE_PROFILES
        and rotation == 0
        and (width, height) == (coded_w, coded_h)
        and (not sar or sar == 1)
        and constant
        and streams[0] == 1
        and streams[1] <= 1
        and info.audio_codec in (None, "aac")
    )
    return Source(
        path=path,
        container=info.container,
        video_codec=info.video_codec,
        pix_fmt=info.pix_fmt,
        coded_width=coded_w,
        coded_height=coded_h,
        width=width,
        height=height,
        rotation=rotation,
        duration=info.duration,
        fps=fps,
        constant_rate=constant,
        has_audio=info.has_audio,
        audio_codec=info.audio_codec,
        browser_safe=safe,
        faststart=faststart,
    )


def frame_chain(stream: av.video.stream.VideoStream, source: Source) -> av.filter.Graph:
    """The filter graph (see the module docstring): push decoded frames, pull CFR ``yuv420p``
    frames at ``source.width`` x ``source.height``."""
    graph = av.filter.Graph()
    nodes = [graph.add_buffer(template=stream)]
    if source.rotation == 90:  # counter-clockwise in the matrix: turn the picture back
        nodes.append(graph.add("transpose", "cclock"))
    elif source.rotation == 270:
        nodes.append(graph.add("transpose", "clock"))
    elif source.rotation == 180:
        nodes += [graph.add("hflip"), graph.add("vflip")]
    nodes.append(graph.add("crop", f"{source.width}:{source.height}:0:0"))
    nodes.append(graph.add("fps", f"fps={source.fps.numerator}/{source.fps.denominator}"))
    nodes.append(graph.add("format", "yuv420p"))
    nodes.append(graph.add("buffersink"))
    graph.link_nodes(*nodes).configure()
    return graph
