"""The video files of a delivery: encoders fed frame by frame, and the remux path.

An :class:`Encode` is one output file with its own video encoder (H.264, VP9 or AV1) and, when
the source has audio, its own audio encoder (AAC, or Opus in WebM). :func:`vidgate.delivery.
build.build` decodes the source once and hands every normalised frame (and every audio frame)
to each encode in turn, so N renditions cost one decode and N encodes, and no frame is held.

H.264 encodes use a fixed GOP (a keyframe every ``GOP_SECONDS``, scene cuts off, closed GOPs),
so the tiers' keyframes fall on the same instants and HLS segments line up across them. The
rate is capped CRF: quality-driven, never above the tier's peak (``profile.TIERS``). MP4s are
written with ``movflags=+faststart`` (the index first: playback starts before the download
ends). :func:`remux` copies an already browser-safe MP4's streams into a new faststart MP4.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.audio.frame
import av.audio.stream
import av.container
import av.video.frame
import av.video.stream

__all__ = [
    "GOP_SECONDS",
    "H264_PRESET",
    "Encode",
    "EncodeSpec",
    "gop_frames",
    "remux",
    "tier_size",
]

#: Seconds between keyframes of every H.264 encode (and so the HLS segment length).
GOP_SECONDS = 2
#: x264's speed/size trade-off. ``veryfast`` encodes a 1080p frame in a few milliseconds per
#: core at ~10-15% more bytes than ``medium`` at the same CRF; on two shared cores the whole
#: default delivery of a clip stays well under the clip's own duration (bench/delivery.py).
H264_PRESET = "veryfast"
#: Constant rate factors: visually clean for generated video, small files.
_CRF = {"h264": 23, "vp9": 34, "av1": 36}


@dataclass(frozen=True)
class EncodeSpec:
    """One video file to make."""

    variant: str
    file_name: str
    #: ``h264`` (MP4), ``vp9`` (WebM) or ``av1`` (MP4).
    codec: str
    width: int
    height: int
    #: The peak video bit rate (bits/s) of a capped-CRF H.264 encode; None: uncapped.
    max_rate: int | None = None

    @property
    def container(self) -> str:
        return "webm" if self.codec == "vp9" else "mp4"


def gop_frames(fps: Fraction) -> int:
    return max(1, round(fps * GOP_SECONDS))


def tier_size(short: int, width: int, height: int) -> tuple[int, int]:
    """The frame size of a tier with short side ``short`` for a ``width`` x ``height`` source
    (the long side follows the aspect ratio; both even)."""
    if width >= height:
        long_side = round(short * width / height / 2) * 2
        return max(2, long_side), short
    long_side = round(short * height / width / 2) * 2
    return short, max(2, long_side)


def _video_options(spec: EncodeSpec, gop: int) -> dict[str, str]:
    if spec.codec == "h264":
        options = {
            "preset": H264_PRESET,
            "crf": str(_CRF["h264"]),
            "profile": "high",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error",
        }
        if spec.max_rate:
            options |= {"maxrate": str(spec.max_rate), "bufsize": str(spec.max_rate * 2)}
        return options
    if spec.codec == "vp9":
        return {
            "deadline": "realtime",
            "cpu-used": "8",
            "row-mt": "1",
            "crf": str(_CRF["vp9"]),
            "b": "0",
            "g": str(gop),
        }
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration otherwise
    return {"preset": "10", "crf": str(_CRF["av1"]), "g": str(gop)}


_ENCODERS = {"h264": "libx264", "vp9": "libvpx-vp9", "av1": "libsvtav1"}


class Encode:
    """One output file being written (see the module docstring). Call :meth:`video` for each
    normalised frame, :meth:`audio` for each decoded audio frame, then :meth:`close`."""

    def __init__(
        self,
        spec: EncodeSpec,
        folder: Path,
        fps: Fraction,
        audio: av.audio.stream.AudioStream | None,
    ) -> None:
        self.spec = spec
        self.path = folder / spec.file_name
        options = {"movflags": "+faststart"} if spec.container == "mp4" else {}
        self._out: av.container.OutputContainer = av.open(
            str(self.path), "w", format=spec.container, options=options
        )
        try:
            gop = gop_frames(fps)
            stream = cast(
                av.video.stream.VideoStream,
                self._out.add_stream(
                    _ENCODERS[spec.codec], rate=fps, options=_video_options(spec, gop)
                ),
            )
            stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
            stream.codec_context.gop_size = gop
            stream.codec_context.time_base = Fraction(1) / fps
            self._video: av.video.stream.VideoStream = stream
            self._audio: av.audio.stream.AudioStream | None = None
            if audio is not None:
                self._audio = self._audio_stream(audio)
        except BaseException:
            self._out.close()
            raise
        self._frames = 0

    def _audio_stream(self, audio: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
        channels = audio.codec_context.channels or 2
        layout = "mono" if channels == 1 else "stereo"
        if self.spec.codec == "vp9":
            stream: Any = self._out.add_stream("libopus", rate=48_000, layout=layout)
            stream.bit_rate = 96_000 if layout == "stereo" else 48_000
        else:
            rate = audio.codec_context.sample_rate or 48_000
            rate = rate if rate in (32_000, 44_100, 48_000) else 48_000
            stream = self._out.add_stream("aac", rate=rate, layout=layout)
            stream.bit_rate = 128_000 if layout == "stereo" else 64_000
        return stream  # type: ignore[no-any-return]

    def video(self, frame: av.video.frame.VideoFrame) -> None:
        if (frame.width, frame.height) != (self.spec.width, self.spec.height):
            frame = frame.reformat(
                width=self.spec.width, height=self.spec.height, interpolation="BICUBIC"
            )
        frame.pts, frame.time_base = self._frames, self._video.codec_context.time_base
        self._frames += 1
        self._out.mux(self._video.encode(frame))

    def audio(self, frame: av.audio.frame.AudioFrame | None) -> None:
        if self._audio is not None:
            self._out.mux(self._audio.encode(frame))

    def close(self) -> Path:
        try:
            self._out.mux(self._video.encode(None))
            self.audio(None)
        finally:
            self._out.close()
        return self.path

    def abort(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


def copy_streams(src: av.container.InputContainer, dst: av.container.OutputContainer) -> None:
    """The video and first audio stream's packets from ``src`` into ``dst`` as they are (no
    decode): a remux into MP4, or the cut of an MP4 into HLS segments."""
    streams = [src.streams.video[0], *src.streams.audio[:1]]
    mapping = {s.index: dst.add_stream_from_template(s) for s in streams}
    for packet in src.demux(*streams):
        if packet.dts is None:
            continue
        packet.stream = mapping[packet.stream.index]
        dst.mux(packet)


def remux(source: Path, out: Path) -> Path:
    """Copy ``source``'s video (and first audio) stream into a new MP4 at ``out`` with its
    index first (``+faststart``): the bytes of every frame as they were, no encode."""
    with (
        av.open(str(source)) as src,
        av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as dst,
    ):
        copy_streams(src, dst)
    return out
