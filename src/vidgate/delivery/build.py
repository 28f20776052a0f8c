"""``build(source, out_dir, profile) → [Rendition]``: the whole delivery set in one call.

One decode pass feeds every encode and the stills (``renditions``, ``stills``); HLS is then cut
from the H.264 MP4s without encoding again (``hls``). In ``out_dir``::

    original.<ext>     the source as received (a hard link when the disk allows)
    video.mp4          browser-safe H.264/AAC at the source size (a faststart remux when the
                       source already is one; otherwise an encode, see ``normalize``)
    480p.mp4 …         the smaller tiers the profile asks for
    video.webm         VP9/Opus (profile ``webm``)       av1.mp4   AV1/AAC (profile ``av1``)
    hls/master.m3u8    hls/<tier>/index.m3u8, init.mp4, seg_000.m4s …
    poster.jpg  sprite.jpg  sprite.vtt  preview.webp

Audio: a source track (silent or not) is carried into every rendition (AAC; Opus in WebM); a
source without audio gets none — no silent track is invented (players need none, and a fake
track would claim sound that was never generated). Every file's facts are measured on the file
written (probe, size, SHA-256), never assumed. Raises ``MediaUnreadable`` for a source that
cannot be read and ``DeliveryFailed`` when an output cannot be written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import av.audio.frame
import av.video.frame

from vidgate.exceptions import DeliveryFailed, MediaError, VidgateError
from vidgate.media.probe import probe

from .hls import HlsTier, codecs_of, package
from .normalize import Source, analyse, frame_chain
from .profile import TIERS, DeliveryProfile, parse_profile
from .renditions import GOP_SECONDS, Encode, EncodeSpec, remux, tier_size
from .stills import StillsTap

__all__ = ["CONTENT_TYPES", "Rendition", "build", "build_file"]

#: Content types by file extension (the container, not a guess).
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
    ".webp": "image/webp",
}
_ORIGINAL_SUFFIX = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "mkv": ".mkv"}
_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)


@dataclass(frozen=True)
class Rendition:
    """One delivered variant: plain data (``as_dict`` is JSON)."""

    #: original, video, 720p, 480p…, webm, av1, hls, poster, sprite, sprite_vtt, preview.
    variant: str
    #: Files relative to the build folder; the first is the variant's own (HLS: the master).
    files: tuple[str, ...]
    content_type: str
    #: The video (or image) codec: h264, hevc, vp9, av1, jpeg, webp, webvtt.
    codec: str
    #: RFC 6381 codecs of a video (``avc1.64001f,mp4a.40.2``), as a ``<source type>`` needs.
    codecs: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    #: Bits per second over the whole file (HLS: the top tier's peak segment rate).
    bitrate: int | None
    duration: float | None
    #: Size of every file of the variant together, and the SHA-256 of the first.
    bytes: int
    sha256: str
    #: The source's own streams copied (no encode).
    remuxed: bool = False
    #: A video's probe (``MediaInfo`` as JSON), as validation would see it.
    media: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = list(self.files)
        return data


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _video_fact(variant: str, path: Path, out_dir: Path, *, remuxed: bool = False) -> Rendition:
    info = probe(path)
    size = path.stat().st_size
    return Rendition(
        variant=variant,
        files=(str(path.relative_to(out_dir)),),
        content_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        codec=info.video_codec or "unknown",
        codecs=codecs_of(path),
        audio_codec=info.audio_codec,
        width=info.width,
        height=info.height,
        fps=round(info.fps, 3) if info.fps else None,
        bitrate=round(size * 8 / info.duration) if info.duration else None,
        duration=round(info.duration, 3),
        bytes=size,
        sha256=_sha256(path),
        remuxed=remuxed,
        media=info.model_dump(mode="json"),
    )


def _still_fact(variant: str, path: Path, out_dir: Path, codec: str) -> Rendition:
    width = height = None
    if codec != "webvtt":
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
    return Rendition(
        variant=variant,
        files=(path.name,),
        content_type=CONTENT_TYPES[path.suffix],
        codec=codec,
        codecs=None,
        audio_codec=None,
        width=width,
        height=height,
        fps=None,
        bitrate=None,
        duration=None,
        bytes=path.stat().st_size,
        sha256=_sha256(path),
    )


def _specs(source: Source, profile: DeliveryProfile) -> list[EncodeSpec]:
    w, h = source.width, source.height
    specs = []
    if not source.browser_safe:
        specs.append(EncodeSpec("video", "video.mp4", "h264", w, h))
    for tier in profile.tiers:
        short = int(tier.removesuffix("p"))
        if short < min(w, h):
            tw, th = tier_size(short, w, h)
            specs.append(EncodeSpec(tier, f"{tier}.mp4", "h264", tw, th, TIERS[tier]))
    if profile.webm:
        specs.append(EncodeSpec("webm", "video.webm", "vp9", w, h))
    if profile.av1:
        specs.append(EncodeSpec("av1", "av1.mp4", "av1", w, h))
    return specs


def _decode_pass(source: Source, encodes: list[Encode], tap: StillsTap | None) -> None:
    """Decode the source once; every normalised frame to each encode and the tap, every audio
    frame to each encode. Frames are handed on as they come: none is held."""
    with av.open(str(source.path)) as container:
        video = container.streams.video[0]
        video.codec_context.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio and encodes else None
        graph = frame_chain(video, source)
        index = 0

        def drain() -> None:
            nonlocal index
            while True:
                try:
                    frame = graph.vpull()
                except (BlockingIOError, EOFError):
                    return
                at = index / source.fps
                if at >= source.duration - 1e-6 and index:
                    continue  # the fps filter pads to the last frame's end: stay in the clip
                for encode in encodes:
                    encode.video(frame)
                if tap is not None:
                    tap.frame(frame, float(at))
                index += 1

        streams = [video, audio] if audio is not None else [video]
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.video.frame.VideoFrame):
                    graph.vpush(frame)
                    drain()
                elif isinstance(frame, av.audio.frame.AudioFrame):
                    for encode in encodes:
                        encode.audio(frame)
        graph.vpush(None)
        drain()


def _keyframes_aligned(path: Path, duration: float) -> bool:
    """Whether an MP4's keyframes fall on the encodes' GOP grid (so it can share a ladder)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 30)
        times = [
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None and p.time_base is not None
        ]
    grid = [i * GOP_SECONDS for i in range(int(duration // GOP_SECONDS) + 1)]
    grid = [g for g in grid if g < duration - 0.5 / rate]
    return len(times) == len(grid) and all(
        abs(t - g) < 0.5 / rate for t, g in zip(sorted(times), grid, strict=True)
    )


def _original(source: Source, out_dir: Path) -> Path:
    suffix = _ORIGINAL_SUFFIX.get(source.container, source.path.suffix.lower() or ".bin")
    target = out_dir / f"original{suffix}"
    target.unlink(missing_ok=True)
    try:
        os.link(source.path, target)
    except OSError:
        shutil.copyfile(source.path, target)
    return target


def build(source_path: Path, out_dir: Path, profile: DeliveryProfile) -> list[Rendition]:
    """Make the delivery set of ``source_path`` in ``out_dir`` (see the module docstring)."""
    source_path, out_dir = Path(source_path), Path(out_dir)
    source = analyse(source_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _build(source, out_dir, profile)
    except VidgateError:
        raise
    except _ERRORS as exc:
        raise DeliveryFailed(
            f"the delivery set could not be made: {exc}",
            details={"source": source_path.name, "reason": type(exc).__name__},
        ) from exc


def _build(source: Source, out_dir: Path, profile: DeliveryProfile) -> list[Rendition]:
    results = [_video_fact("original", _original(source, out_dir), out_dir)]
    specs = _specs(source, profile)
    tap = StillsTap(
        source.width,
        source.height,
        source.duration,
        poster=profile.poster,
        sprite=profile.sprite,
        preview=profile.preview,
    )
    encodes: list[Encode] = []
    with av.open(str(source.path)) as probe_container:
        audio_stream = probe_container.streams.audio[0] if probe_container.streams.audio else None
        try:
            for spec in specs:
                encodes.append(Encode(spec, out_dir, source.fps, audio_stream))
        except BaseException:
            for encode in encodes:
                encode.abort()
            raise
    try:
        if encodes or tap.wants_frames:
            _decode_pass(source, encodes, tap if tap.wants_frames else None)
        written = {encode.spec.variant: encode.close() for encode in encodes}
    except BaseException:
        for encode in encodes:
            with contextlib.suppress(Exception):
                encode.abort()
        raise
    remuxed = source.browser_safe
    if remuxed:
        written = {"video": remux(source.path, out_dir / "video.mp4"), **written}
    for variant, path in written.items():
        results.append(_video_fact(variant, path, out_dir, remuxed=remuxed and variant == "video"))
    if profile.hls:
        results.append(_hls(results, out_dir, source))
    for variant, path in tap.write(out_dir).items():
        codec = {".jpg": "jpeg", ".vtt": "webvtt", ".webp": "webp"}[path.suffix]
        results.append(_still_fact(variant, path, out_dir, codec))
    return results


def _hls(results: list[Rendition], out_dir: Path, source: Source) -> Rendition:
    ladder = [r for r in results if r.codec == "h264" and r.variant != "original"]
    top = next(r for r in ladder if r.variant == "video")
    if (
        top.remuxed
        and len(ladder) > 1
        and not _keyframes_aligned(out_dir / "video.mp4", source.duration)
    ):
        ladder.remove(top)  # its keyframes are the provider's: it would not switch cleanly
    folder = out_dir / "hls"
    shutil.rmtree(folder, ignore_errors=True)
    tiers = [
        HlsTier(r.variant, out_dir / r.files[0], r.width or 0, r.height or 0, r.fps or 0.0)
        for r in ladder
    ]
    files = package(tiers, folder)
    master = files[0]
    best = max(ladder, key=lambda r: (r.width or 0) * (r.height or 0))
    peak = max(
        int(line.split("BANDWIDTH=")[1].split(",")[0])
        for line in master.read_text(encoding="utf-8").splitlines()
        if line.startswith("#EXT-X-STREAM-INF")
    )
    return Rendition(
        variant="hls",
        files=tuple(str(p.relative_to(out_dir)) for p in files),
        content_type=CONTENT_TYPES[".m3u8"],
        codec="h264",
        codecs=best.codecs,
        audio_codec=best.audio_codec,
        width=best.width,
        height=best.height,
        fps=best.fps,
        bitrate=peak,
        duration=best.duration,
        bytes=sum(p.stat().st_size for p in files),
        sha256=_sha256(master),
    )


def build_file(source: str, out_dir: str, profile: dict[str, Any]) -> dict[str, Any]:
    """:func:`build` for the media lane: plain data in and out. Returns ``{"renditions":
    [Rendition.as_dict()…]}`` or ``{"error": VidgateError.to_dict()}``, with ``pid``,
    ``started`` and ``ended`` (wall-clock seconds) of the work in the child."""
    started = time.time()
    result: dict[str, Any]
    try:
        built = build(Path(source), Path(out_dir), parse_profile(profile))
        result = {"renditions": [r.as_dict() for r in built]}
    except (MediaError, VidgateError) as exc:
        result = {"error": exc.to_dict()}
    return {**result, "pid": os.getpid(), "started": started, "ended": time.time()}
