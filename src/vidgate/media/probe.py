"""Probe a media file with PyAV (its bundled FFmpeg; no ffprobe needed) into a ``MediaInfo``.

``probe(path)`` reads only the container header and stream parameters; it is cheap. With
``decode=True`` it also decodes every video frame, which is what catches a file whose index is
intact but whose media data is truncated (a half-downloaded faststart MP4 opens fine).

Anything that is not a readable video (missing, not media, a still image, audio only, truncated,
corrupt) raises :class:`~vidgate.exceptions.MediaUnreadable`; no raw ``av`` exception escapes.
"""

from __future__ import annotations

from pathlib import Path

import av
import av.container
import av.stream
import av.video.stream

from vidgate.exceptions import MediaUnreadable
from vidgate.types import MediaInfo

__all__ = ["header_info", "open_video", "probe"]

# Major brands of ISO base media files that are MP4 rather than QuickTime.
_MP4_BRANDS = frozenset(
    {"isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso8", "iso9", "mp41", "mp42", "mp71"}
    | {"avc1", "M4V ", "M4VH", "M4VP", "dash", "msnv", "mmp4", "f4v ", "XAVC", "MSNV", "av01"}
)
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1"})
_WEBM_AUDIO = frozenset({"opus", "vorbis"})
# Demuxers that read single images or image sequences: these are pictures, not videos.
_IMAGE_DEMUXERS = ("image2", "_pipe")
# Demuxers FFmpeg picks by file extension for text art: they "play" any text file as video.
_TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})

_OPEN_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)


def _unreadable(path: Path, reason: str, **details: object) -> MediaUnreadable:
    return MediaUnreadable(f"{path}: {reason}", details={"path": str(path), **details})


def _container_name(path: Path, container: av.container.InputContainer, codecs: set[str]) -> str:
    names = container.format.name.split(",")
    suffix = path.suffix.lower()
    if "mp4" in names or "mov" in names:
        brand = container.metadata.get("major_brand", "")
        if suffix in (".mp4", ".m4v") or brand in _MP4_BRANDS or brand.startswith("iso"):
            return "mp4"
        return "mov"
    if "matroska" in names or "webm" in names:
        if suffix == ".webm":
            return "webm"
        if suffix == ".mkv":
            return "mkv"
        video = codecs & _WEBM_CODECS
        others = codecs - _WEBM_CODECS - _WEBM_AUDIO
        return "webm" if video and not others else "mkv"
    return names[0]


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first real video stream: cover art (``attached_pic``) in an audio file is skipped."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _codec_name(stream: av.stream.Stream) -> str | None:
    # The canonical name ("av1"), not the decoder's ("libdav1d").
    try:
        return stream.codec.canonical_name or stream.codec.name
    except (AttributeError, av.error.FFmpegError):
        name = stream.codec_context.name if stream.codec_context else None
        return name or None


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """The video stream's own duration; the container's when the stream does not say."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _check_index(path: Path, container: av.container.InputContainer, size_bytes: int) -> None:
    """Raise if the container's sample index points past the end of the file.

    A half-downloaded MP4 with its index (``moov``) in front still opens, and its header still
    promises every frame; the index is how we notice without decoding anything.
    """
    for stream in container.streams:
        end = max((entry.pos + entry.size for entry in stream.index_entries), default=0)
        if end > size_bytes:
            raise _unreadable(
                path,
                f"truncated: the {stream.type} index reaches byte {end}, the file has {size_bytes}",
                size_bytes=size_bytes,
                indexed_bytes=end,
            )


def _scan_packets(path: Path, index: int) -> tuple[int, float | None]:
    """Demux (without decoding) the video stream: its packet count and the time they span."""
    count, first, end = 0, None, None
    with av.open(str(path)) as container:
        stream = container.streams[index]
        for packet in container.demux(stream):
            if not packet.size:
                continue
            count += 1
            if packet.pts is not None and packet.time_base is not None:
                start = packet.pts * packet.time_base
                stop = start + (packet.duration or 0) * packet.time_base
                first = start if first is None else min(first, start)
                end = stop if end is None else max(end, stop)
    span = float(end - first) if first is not None and end is not None else None
    return count, span if span else None


def _decode_all(path: Path, index: int) -> int:
    """Decode every frame of stream ``index``; return how many came out."""
    with av.open(str(path)) as container:
        stream = container.streams[index]
        stream.codec_context.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def open_video(
    path: Path,
) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` and find its video stream, or raise :class:`MediaUnreadable`.

    Rejects missing and empty files, text and still images (which FFmpeg will happily "play"),
    files with no video stream or no frame size, and files whose index points past their end.
    The caller must close the returned container.
    """
    if not path.exists():
        raise _unreadable(path, "no such file")
    if not path.is_file():
        raise _unreadable(path, "not a regular file")
    size_bytes = path.stat().st_size
    if size_bytes == 0:
        raise _unreadable(path, "the file is empty")
    try:
        container = av.open(str(path))
    except _OPEN_ERRORS as exc:
        raise _unreadable(path, f"not a readable media file ({exc})") from exc
    try:
        format_name = container.format.name
        if format_name in _TEXT_DEMUXERS:
            raise _unreadable(path, f"not a video (FFmpeg reads it as text: {format_name})")
        if any(marker in format_name for marker in _IMAGE_DEMUXERS):
            raise _unreadable(path, f"a still image ({format_name}), not a video")
        _check_index(path, container, size_bytes)
        stream = _video_stream(container)
        if stream is None:
            kinds = ", ".join(sorted({str(s.type) for s in container.streams})) or "nothing"
            raise _unreadable(path, f"no video stream (found: {kinds})")
        if stream.codec_context.width <= 0 or stream.codec_context.height <= 0:
            raise _unreadable(path, "the video stream has no frame size")
    except BaseException as exc:
        container.close()
        if isinstance(exc, _OPEN_ERRORS):
            raise _unreadable(path, f"cannot read the video ({exc})") from exc
        raise
    return container, stream


def header_info(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[MediaInfo, bool]:
    """What the headers of an open video say, and whether the video stream states its own
    duration (when it does not, the duration is the container's: the packets' span is better)."""
    context = stream.codec_context
    audio = container.streams.audio[0] if container.streams.audio else None
    video_codec = _codec_name(stream)
    audio_codec = _codec_name(audio) if audio is not None else None
    codecs = {name for name in (video_codec, audio_codec) if name}
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    info = MediaInfo(
        container=_container_name(path, container, codecs),
        video_codec=video_codec,
        width=context.width,
        height=context.height,
        duration=_duration(container, stream),
        fps=float(rate) if rate else None,
        frame_count=stream.frames or None,
        pix_fmt=context.pix_fmt,
        bit_rate=stream.bit_rate or container.bit_rate or None,
        has_audio=audio is not None,
        audio_codec=audio_codec,
        size_bytes=path.stat().st_size,
    )
    return info, bool(stream.duration and stream.time_base)


def probe(path: str | Path, *, decode: bool = False) -> MediaInfo:
    """What is in the video at ``path``: container, codec, size, duration, frame rate and more.

    ``duration`` is the video stream's (the container's when the stream has none), ``fps`` the
    average frame rate, and ``frame_count`` the stream's declared count or, when the container
    does not record one (WebM, for instance), the number of video packets. ``bit_rate`` is the
    video stream's when known, otherwise the whole file's.

    With ``decode=True`` every video frame is decoded, and a decoding error or fewer frames than
    declared raises :class:`MediaUnreadable`.
    """
    path = Path(path)
    container, stream = open_video(path)
    try:
        with container:
            info, stream_duration = header_info(path, container, stream)
            declared = stream.frames
            index = stream.index
        if not declared:
            # The container records no frame count (WebM, MKV, TS...): count the packets, and
            # measure the duration they actually span, because such a header's duration is the
            # longest stream's, or what the muxer wrote before a download was cut short.
            packets, span = _scan_packets(path, index)
            update: dict[str, object] = {"frame_count": packets or None}
            if span and not stream_duration:
                update["duration"] = span
            info = info.model_copy(update=update)
        if decode:
            _check_decodes(path, index, info.frame_count)
    except MediaUnreadable:
        raise
    except _OPEN_ERRORS as exc:
        raise _unreadable(path, f"cannot read the video ({exc})") from exc
    return info


def _check_decodes(path: Path, index: int, expected: int | None) -> None:
    try:
        decoded = _decode_all(path, index)
    except _OPEN_ERRORS as exc:
        raise _unreadable(path, f"decoding failed ({exc})") from exc
    if decoded == 0:
        raise _unreadable(path, "no video frame could be decoded", decoded_frames=0)
    if expected is not None and decoded < expected:
        raise _unreadable(
            path,
            f"only {decoded} of {expected} frames decode: the file is truncated or corrupt",
            decoded_frames=decoded,
            declared_frames=expected,
        )
