"""HLS from the delivery's H.264 MP4s: fMP4 segments per size and a master playlist over them.

Each MP4 is remuxed (its packets copied, nothing encoded) by FFmpeg's ``hls`` muxer into its own
folder: ``<tier>/index.m3u8`` (a VOD media playlist), ``<tier>/init.mp4`` (the fMP4 init
segment) and ``<tier>/seg_000.m4s``… cut at keyframes every ``GOP_SECONDS``. The encodes' fixed
GOP puts those keyframes at the same instants in every tier, so segments line up and a player
switches sizes at any segment boundary; each segment starts with a keyframe, which the
playlists declare with ``#EXT-X-INDEPENDENT-SEGMENTS``.

``master.m3u8`` lists the sizes largest first with what a player chooses by: ``BANDWIDTH`` (the
peak of the segments' measured bit rates), ``AVERAGE-BANDWIDTH``, ``RESOLUTION``, ``FRAME-RATE``
and ``CODECS`` (RFC 6381, read from the streams' own configuration records).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from .renditions import GOP_SECONDS, copy_streams

__all__ = ["HlsTier", "codecs_of", "package"]


@dataclass(frozen=True)
class HlsTier:
    """One size in the ladder: its name (``video``, ``480p``…) and its H.264 MP4."""

    name: str
    mp4: Path
    width: int
    height: int
    fps: float


def _avc1(extradata: bytes | None) -> str:
    if extradata and len(extradata) >= 4 and extradata[0] == 1:
        return f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"
    return "avc1.640028"


def _av01(extradata: bytes | None) -> str:
    if extradata and len(extradata) >= 3:
        profile, level = extradata[1] >> 5, extradata[1] & 0x1F
        tier = "H" if extradata[2] & 0x80 else "M"
        depth = 12 if extradata[2] & 0x20 else 10 if extradata[2] & 0x40 else 8
        return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"
    return "av01.0.08M.08"


def codecs_of(path: Path) -> str:
    """The RFC 6381 ``codecs`` value of a delivered file (``avc1.64001f,mp4a.40.2``,
    ``vp9,opus``, ``av01.0.08M.08,mp4a.40.2``)."""
    names: list[str] = []
    with av.open(str(path)) as container:
        for stream in [*container.streams.video[:1], *container.streams.audio[:1]]:
            name = stream.codec_context.name
            extradata = stream.codec_context.extradata
            if name == "h264":
                names.append(_avc1(extradata))
            elif name in ("av1", "libdav1d", "libaom-av1"):
                names.append(_av01(extradata))
            elif name == "aac":
                names.append("mp4a.40.2")
            else:
                names.append(name)
    return ",".join(names)


def _segment(mp4: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    options = {
        "hls_time": str(GOP_SECONDS),
        "hls_playlist_type": "vod",
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": "init.mp4",
        "hls_segment_filename": str(folder / "seg_%03d.m4s"),
        "hls_flags": "independent_segments",
    }
    with (
        av.open(str(mp4)) as src,
        av.open(str(playlist), "w", format="hls", options=options) as dst,
    ):
        copy_streams(src, dst)
    return playlist


def _bandwidth(playlist: Path) -> tuple[int, int]:
    """(peak, average) bits per second over the playlist's segments (the init segment's bytes
    counted in the first)."""
    folder = playlist.parent
    init = folder / "init.mp4"
    extra = init.stat().st_size if init.is_file() else 0
    peak, total_bytes, total_seconds = 0.0, 0, 0.0
    seconds: float | None = None
    for line in playlist.read_text(encoding="utf-8").splitlines():
        if line.startswith("#EXTINF:"):
            seconds = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#") and seconds:
            size = (folder / line).stat().st_size + extra
            extra = 0
            peak = max(peak, size * 8 / seconds)
            total_bytes += size
            total_seconds += seconds
            seconds = None
    average = total_bytes * 8 / total_seconds if total_seconds else 0.0
    return round(peak), round(average)


def package(tiers: list[HlsTier], folder: Path) -> list[Path]:
    """Write the HLS set for ``tiers`` under ``folder``; return every file written, the master
    playlist (``folder/master.m3u8``) first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    files: list[Path] = []
    for tier in sorted(tiers, key=lambda t: -t.width * t.height):
        playlist = _segment(tier.mp4, folder / tier.name)
        peak, average = _bandwidth(playlist)
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={tier.width}x{tier.height},FRAME-RATE={tier.fps:.3f},"
            f'CODECS="{codecs_of(tier.mp4)}"',
            f"{tier.name}/index.m3u8",
        ]
        files += sorted(p for p in playlist.parent.iterdir() if p.is_file())
    master = folder / "master.m3u8"
    master.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [master, *files]
