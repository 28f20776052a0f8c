"""Stills from the delivery's one decode pass: a poster, a thumbnail sprite and a preview.

:class:`StillsTap` sees every normalised frame (upright, CFR, even-sized) as it goes by and
keeps only what it needs, already scaled down: the poster frame (a third of the way in, like
the thumbnail: past fades and title cards), one small tile per sprite interval pasted straight
into the sprite sheet, and the preview's frames. Memory stays bounded by the outputs' size,
whatever the clip's length.

- **poster**: JPEG at the source size (at most ``POSTER_MAX_WIDTH`` wide);
- **sprite**: a JPEG grid of ``TILE_WIDTH``-wide tiles, one every ``sprite_interval`` seconds
  (at most ``MAX_TILES``), ``SPRITE_COLUMNS`` per row, and a WebVTT track whose cues point at
  each tile (``sprite.jpg#xywh=x,y,w,h``): what players show over the seek bar;
- **preview**: an animated WebP of ``PREVIEW_FRAMES`` frames spread over the whole clip, played
  at ``PREVIEW_FPS`` (a clip of any length becomes a ~3 s loop), ``PREVIEW_WIDTH`` wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import av.video.frame
from PIL import Image

from vidgate.media.thumbnail import save_jpeg

__all__ = ["StillsTap", "sprite_interval"]

POSTER_MAX_WIDTH = 1920
TILE_WIDTH = 160
SPRITE_COLUMNS = 10
MAX_TILES = 100
PREVIEW_FRAMES = 24
PREVIEW_FPS = 8
PREVIEW_WIDTH = 320


def sprite_interval(duration: float) -> float:
    """Seconds per sprite tile: one a second, longer clips spread over ``MAX_TILES``."""
    return max(1.0, math.ceil(duration / MAX_TILES)) if duration > 0 else 1.0


def _scaled(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width <= max_width:
        return width, height
    return max_width, max(2, round(height * max_width / width / 2) * 2)


def _image(frame: av.video.frame.VideoFrame, size: tuple[int, int]) -> Image.Image:
    """The frame scaled to ``size`` as an RGB image."""
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb24")
    return Image.fromarray(rgb.to_ndarray(), "RGB")


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


@dataclass
class StillsTap:
    """Collects the stills (see the module docstring) from frames of ``width`` x ``height``
    over ``duration`` seconds. ``poster``, ``sprite``, ``preview`` say which to make."""

    width: int
    height: int
    duration: float
    poster: bool = True
    sprite: bool = True
    preview: bool = True
    _poster: av.video.frame.VideoFrame | None = None
    _tiles: list[float] = field(default_factory=list)
    _sheet: Image.Image | None = None
    _preview: list[Image.Image] = field(default_factory=list)
    _preview_times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.interval = sprite_interval(self.duration)
        count = max(1, math.ceil(self.duration / self.interval - 1e-6)) if self.sprite else 0
        self._tiles = [i * self.interval for i in range(count)]
        self.tile = _scaled(self.width, self.height, TILE_WIDTH)
        if count:
            rows = math.ceil(count / SPRITE_COLUMNS)
            columns = min(count, SPRITE_COLUMNS)
            self._sheet = Image.new("RGB", (columns * self.tile[0], rows * self.tile[1]))
        self._placed = 0
        frames = PREVIEW_FRAMES if self.preview else 0
        self._preview_times = [i * self.duration / frames for i in range(frames)]
        self._poster_at = self.duration / 3

    @property
    def wants_frames(self) -> bool:
        return self.poster or self.sprite or self.preview

    def frame(self, frame: av.video.frame.VideoFrame, at: float) -> None:
        """Look at the frame shown from ``at`` seconds."""
        if self.poster and (self._poster is None or at <= self._poster_at + 1e-6):
            self._poster = frame  # converted once, at the end
        while self._sheet is not None and self._placed < len(self._tiles):
            if at < self._tiles[self._placed] - 1e-6:
                break
            tile = _image(frame, self.tile)
            column, row = self._placed % SPRITE_COLUMNS, self._placed // SPRITE_COLUMNS
            self._sheet.paste(tile, (column * self.tile[0], row * self.tile[1]))
            self._placed += 1
        while self._preview_times and at >= self._preview_times[0] - 1e-6:
            self._preview_times.pop(0)
            size = _scaled(frame.width, frame.height, PREVIEW_WIDTH)
            self._preview.append(_image(frame, size))

    def write(self, folder: Path) -> dict[str, Path]:
        """Write what was collected; returns variant → file."""
        written: dict[str, Path] = {}
        if self._poster is not None:
            size = _scaled(self._poster.width, self._poster.height, POSTER_MAX_WIDTH)
            image = _image(self._poster, size)
            save_jpeg(image, folder / "poster.jpg", max_width=POSTER_MAX_WIDTH)
            written["poster"] = folder / "poster.jpg"
        if self._sheet is not None and self._placed:
            save_jpeg(self._sheet, folder / "sprite.jpg", max_width=self._sheet.width, quality=80)
            written["sprite"] = folder / "sprite.jpg"
            written["sprite_vtt"] = self._write_vtt(folder / "sprite.vtt", "sprite.jpg")
        if self._preview:
            path = folder / "preview.webp"
            self._preview[0].save(
                path,
                format="WEBP",
                save_all=True,
                append_images=self._preview[1:],
                duration=round(1000 / PREVIEW_FPS),
                loop=0,
                quality=70,
                method=4,
            )
            written["preview"] = path
        return written

    def _write_vtt(self, path: Path, image: str) -> Path:
        lines = ["WEBVTT", ""]
        w, h = self.tile
        for index in range(self._placed):
            start = self._tiles[index]
            end = min(self.duration, start + self.interval)
            column, row = index % SPRITE_COLUMNS, index // SPRITE_COLUMNS
            lines += [
                f"{_vtt_time(start)} --> {_vtt_time(end)}",
                f"{image}#xywh={column * w},{row * h},{w},{h}",
                "",
            ]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path
