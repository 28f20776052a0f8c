"""Validate an output video in one pass: headers, every packet demuxed, a sample decoded.

:func:`inspect` opens the file once and

1. reads the container and stream headers (:func:`~vidgate.media.probe.open_video` also rejects
   a file whose index points past its end, non-videos and still images);
2. demuxes every packet of every stream without decoding: this proves the file reads end to
   end, counts the video packets (the frame count when the container records none, and a
   truncation check when it does) and measures the time they span; for H.264 and HEVC in MP4 or
   Matroska (length-prefixed NAL units) each video packet's NAL structure is walked, which
   catches zeroed or overwritten blocks of media data without decoding them;
3. decodes only a sample: the first keyframe, a few keyframes spread over the clip (the decoder
   is fed just those packets; a keyframe decodes on its own) and the last group of pictures
   (up to ``tail_frames`` of it: all of it for the usual short GOP, so the last frame is proven
   to decode), and checks that each packet sent to the decoder gave a frame;
4. writes the thumbnail from the decoded frame nearest a third of the way in (past fades and
   title cards), so no second decode is needed.

The cost is a read of the file plus at most ``tail_frames`` frames and a handful of keyframes,
instead of the full decode the probe does with ``decode=True``. What it cannot see: damage that
stays inside one packet of a frame that is not sampled, in a codec whose packets it cannot walk
(VP9, AV1). (Slice data overwritten in place, NAL lengths intact, is concealed by FFmpeg's H.264
decoder anyway: the full decode does not notice it either.) Everything unreadable raises
:class:`~vidgate.exceptions.MediaUnreadable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.packet
import av.stream
import av.video.frame
import av.video.stream

from vidgate.exceptions import MediaUnreadable
from vidgate.media.probe import header_info, open_video
from vidgate.media.thumbnail import frame_image, save_jpeg
from vidgate.types import MediaInfo

__all__ = ["inspect"]

_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)


def _unreadable(path: Path, reason: str, **details: object) -> MediaUnreadable:
    return MediaUnreadable(f"{path}: {reason}", details={"path": str(path), **details})


def _nal_length_size(codec: str | None, extradata: bytes | None) -> int | None:
    """The NAL length prefix size of a length-prefixed (avcC / hvcC) H.264 or HEVC stream;
    ``None`` for Annex B streams and other codecs, whose packets are not walked."""
    if not extradata or extradata[0] != 1:
        return None
    if codec == "h264" and len(extradata) >= 5:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) >= 22:
        return (extradata[21] & 3) + 1
    return None


def _nal_units_ok(data: bytes, length_size: int) -> bool:
    """Whether ``data`` is a sequence of non-empty NAL units whose length prefixes add up to
    exactly its size, each with its forbidden bit clear."""
    pos, end = 0, len(data)
    if end == 0:
        return False
    while pos < end:
        if pos + length_size >= end:
            return False
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > end or data[pos] & 0x80:
            return False
        pos += size
    return True


@dataclass
class _Sampler:
    """Chooses which keyframes to decode while the packets stream past."""

    targets: list[float]  # seconds; each is met by the first keyframe at or after it
    next_target: int = 0
    sampled: set[int] = field(default_factory=set)  # pts of the keyframes sent to the decoder

    def wants(self, time: float) -> bool:
        hit = False
        while self.next_target < len(self.targets) and time >= self.targets[self.next_target]:
            self.next_target += 1
            hit = True
        return hit


def inspect(
    path: str | Path,
    *,
    thumbnail_to: str | Path | None = None,
    samples: int = 3,
    tail_frames: int = 48,
    max_width: int = 640,
    quality: int = 85,
) -> MediaInfo:
    """Probe and check the video at ``path`` in one pass; write its thumbnail to
    ``thumbnail_to`` (a JPEG at most ``max_width`` wide) when given.

    ``samples`` keyframes spread over the clip are decoded besides the first, and at most
    ``tail_frames`` frames of the last group of pictures (so a clip encoded as one long group
    of pictures is not decoded in full). Raises :class:`MediaUnreadable` for a truncated or
    corrupt file.
    """
    path = Path(path)
    container, stream = open_video(path)
    try:
        with container:
            scan = _Scan(path, stream, header_info(path, container, stream), samples, tail_frames)
            info = _inspect(path, container, stream, scan, thumbnail_to, max_width, quality)
    except MediaUnreadable:
        raise
    except _ERRORS as exc:
        raise _unreadable(path, f"cannot read the video ({exc})") from exc
    return info


class _Scan:
    """One pass over the packets: counts and times them, walks their NAL units, and feeds the
    decoder the sampled keyframes and, at the end, the last group of pictures."""

    def __init__(
        self,
        path: Path,
        stream: av.video.stream.VideoStream,
        header: tuple[MediaInfo, bool],
        samples: int,
        tail_frames: int,
    ) -> None:
        info, self.stream_duration = self.header = header
        self.tail_frames = max(1, tail_frames)
        self.path, self.stream, self.codec = path, stream, info.video_codec
        self.context = stream.codec_context
        self.context.thread_type = "SLICE"  # frame threads would decode packets never asked for
        self.length_size = _nal_length_size(info.video_codec, self.context.extradata)
        duration = info.duration
        self.sampler = _Sampler(
            [0.0] + [duration * (i + 1) / (samples + 1) for i in range(samples)]
        )
        self.thumb_at = duration / 3
        self.best: av.video.frame.VideoFrame | None = None
        self.decoded: set[int] = set()
        self.count = 0
        self.first: Fraction | None = None
        self.end: Fraction | None = None
        self.gop: list[
            av.packet.Packet[av.stream.Stream]
        ] = []  # the packets of the current group of pictures

    def keep(self, frames: list[av.video.frame.VideoFrame]) -> None:
        for frame in frames:
            if frame.pts is not None:
                self.decoded.add(frame.pts)
            if frame.time is not None and (
                self.best is None
                or abs(frame.time - self.thumb_at) < abs((self.best.time or 0.0) - self.thumb_at)
            ):
                self.best = frame

    def packet(self, packet: av.packet.Packet[av.stream.Stream]) -> None:
        self.count += 1
        if self.length_size and not _nal_units_ok(bytes(packet), self.length_size):
            raise _unreadable(
                self.path,
                f"corrupt: video packet {self.count} is not a valid {self.codec} bitstream",
                packet=self.count,
            )
        time_base = self.stream.time_base
        if packet.pts is None or time_base is None:
            self.gop.append(packet)
            return
        start = packet.pts * time_base
        stop = start + (packet.duration or 0) * time_base
        self.first = start if self.first is None else min(self.first, start)
        self.end = stop if self.end is None else max(self.end, stop)
        if packet.is_keyframe:
            self.gop = []
            if self.sampler.wants(float(start)):
                self.sampler.sampled.add(packet.pts)
                self.keep(self.context.decode(packet))
        self.gop.append(packet)

    def finish(self) -> set[int]:
        """Decode the last group of pictures; return the sampled frames that did not decode."""
        if not self.gop:
            raise _unreadable(self.path, "no video frame could be decoded", decoded_frames=0)
        tail = self.gop[: self.tail_frames]
        for packet in tail:
            self.keep(self.context.decode(packet))
        self.keep(self.context.decode(None))
        sent = self.sampler.sampled | {p.pts for p in tail if p.pts is not None}
        return sent - self.decoded


def _inspect(
    path: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    scan: _Scan,
    thumbnail_to: str | Path | None,
    max_width: int,
    quality: int,
) -> MediaInfo:
    info, stream_duration = scan.header
    declared = stream.frames
    try:
        for packet in container.demux():
            if packet.stream.index == stream.index and packet.size:
                scan.packet(packet)
        missing = scan.finish()
    except MediaUnreadable:
        raise
    except _ERRORS as exc:
        raise _unreadable(path, f"decoding failed ({exc})") from exc
    if missing:
        raise _unreadable(
            path,
            f"{len(missing)} sampled frames do not decode: the file is truncated or corrupt",
            undecoded_frames=len(missing),
        )
    if declared and scan.count < declared:
        raise _unreadable(
            path,
            f"only {scan.count} of {declared} frames are in the file: it is truncated",
            packets=scan.count,
            declared_frames=declared,
        )
    if not declared:
        span = float(scan.end - scan.first) if scan.first is not None and scan.end else None
        update: dict[str, object] = {"frame_count": scan.count or None}
        if span and not stream_duration:
            update["duration"] = span
        info = info.model_copy(update=update)
    if thumbnail_to is not None and scan.best is not None:
        image = frame_image(scan.best, stream.sample_aspect_ratio)
        save_jpeg(image, Path(thumbnail_to), max_width=max_width, quality=quality)
    return info
