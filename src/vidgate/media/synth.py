"""The synthetic renderer behind vidgate's offline ``simulated`` provider.

It turns a prompt and a seed into a short, pleasant, *deterministic* clip: a slowly shifting
gradient whose palette comes from a hash of the prompt and seed, a few soft glowing shapes drifting
over it, the prompt in a readable box, a ``vidgate · simulated`` label, and a timecode with the
frame number (so a human who extracts a frame can tell where it came from). Optional first and last
frame images cross-fade in and out, as image-to-video and keyframe models would do.

``SynthSpec.effect`` draws the deterministic bad outputs the content scanner must catch:
``marker`` (a solid magenta block, :data:`MARKER_RGB`, over the middle of the second half's
frames: the stand-in for unsafe content that the test scanner ``marker`` flags), ``black`` (every
frame black), ``frozen`` (every frame the first), ``short`` (the video stops at 40 % while the
audio runs on, so the container claims the full length) and ``silent`` (an audio track of
silence).

:func:`render_frame` is a pure function of the spec and the frame index; :func:`render` encodes
the frames to an H.264/AAC MP4 with PyAV (no system ffmpeg) and moves it into place atomically.

Output bytes are reproducible for the same spec on the same PyAV/FFmpeg/x264/Pillow build: x264
runs with a fixed thread count (its default mode is deterministic for a given thread count), the
AAC encoder is deterministic, and the MP4 muxer writes no wall-clock timestamps.
"""

from __future__ import annotations

import colorsys
import contextlib
import hashlib
import math
import os
import tempfile
import threading
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from vidgate.exceptions import MediaUnreadable

__all__ = ["EFFECTS", "MARKER_RGB", "SynthSpec", "frame_count", "render", "render_frame"]

Frame = npt.NDArray[np.uint8]
_FloatArray = npt.NDArray[np.float64]

#: x264 settings: a 5 s 720p clip renders in about 1.5 s on two cores (drawing included) and
#: stays clean on smooth gradients. A fixed thread count keeps the bitstream reproducible.
_X264_OPTIONS = {"preset": "veryfast", "crf": "23", "tune": "animation"}
_X264_THREADS = 2
_LOOKAHEAD = 4  # frames drawn ahead of the encoder
_AUDIO_RATE = 48_000
_AUDIO_CHUNK = 1024  # one AAC frame
_FADE_SECONDS = 1.0
#: The bad outputs ``SynthSpec.effect`` can draw (see the module docstring).
EFFECTS = frozenset({"marker", "black", "frozen", "short", "silent"})
#: The colour of the synthetic "unsafe content" marker.
MARKER_RGB = (255, 0, 255)
_SHORT_FRACTION = 0.4
_LOW_RES_LONG_SIDE = 192  # the background is computed this small, then scaled up
_LABEL = "vidgate \u00b7 simulated"


@dataclass(frozen=True)
class SynthSpec:
    """What to render. ``width`` and ``height`` must be even for H.264 with 4:2:0 chroma."""

    prompt: str
    seed: int
    duration: float
    width: int
    height: int
    fps: int
    audio: bool = False
    first_frame: Path | None = None
    last_frame: Path | None = None
    effect: str | None = None

    def __post_init__(self) -> None:
        if self.effect is not None and self.effect not in EFFECTS:
            raise ValueError(f"effect must be one of {sorted(EFFECTS)}, not {self.effect!r}")
        if self.width < 2 or self.height < 2:
            raise ValueError(f"frame size must be at least 2x2, not {self.width}x{self.height}")
        if self.fps < 1:
            raise ValueError(f"fps must be at least 1, not {self.fps}")
        if not self.duration > 0 or not math.isfinite(self.duration):
            raise ValueError(f"duration must be a positive number of seconds, not {self.duration}")


def frame_count(spec: SynthSpec) -> int:
    """How many frames the clip has: ``round(duration * fps)``."""
    return round(spec.duration * spec.fps)


# --------------------------------------------------------------------------------------------
# The look: palette, shapes and text, all derived from a hash of (prompt, seed)


@dataclass(frozen=True)
class _Blob:
    color: tuple[float, float, float]
    radius: float  # as a fraction of the frame's short side
    centre: tuple[float, float]  # resting position, fractions of width and height
    amplitude: tuple[float, float]
    speed: tuple[float, float]  # radians per second
    phase: tuple[float, float]


@dataclass(frozen=True)
class _Look:
    top: tuple[float, float, float]
    bottom: tuple[float, float, float]
    angle: float
    blobs: tuple[_Blob, ...]
    accent: tuple[int, int, int]


class _Bytes:
    """A deterministic stream of numbers in [0, 1) from SHA-256 in counter mode."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._counter = 0
        self._pool = b""

    def unit(self) -> float:
        if len(self._pool) < 4:
            block = self._key + self._counter.to_bytes(8, "big")
            self._pool += hashlib.sha256(block).digest()
            self._counter += 1
        value, self._pool = int.from_bytes(self._pool[:4], "big"), self._pool[4:]
        return value / 2**32

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()


def _hsv(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(hue % 1.0, saturation, value)


@lru_cache(maxsize=64)
def _look(prompt: str, seed: int) -> _Look:
    rnd = _Bytes(hashlib.sha256(f"vidgate-synth\x00{seed}\x00{prompt}".encode()).digest())
    base = rnd.unit()
    # Analogous background, with glows from the neighbouring and the complementary hues.
    top = _hsv(base, rnd.between(0.55, 0.8), rnd.between(0.18, 0.3))
    bottom = _hsv(base + rnd.between(0.06, 0.16), rnd.between(0.5, 0.75), rnd.between(0.45, 0.6))
    glow_hues = [base + 0.12, base - 0.1, base + 0.5, base + 0.3, base + 0.2]
    blobs = []
    for hue in glow_hues[: 3 + int(rnd.unit() * 3)]:
        blobs.append(
            _Blob(
                color=_hsv(hue + rnd.between(-0.03, 0.03), rnd.between(0.45, 0.7), 1.0),
                radius=rnd.between(0.16, 0.32),
                centre=(rnd.between(0.2, 0.8), rnd.between(0.2, 0.8)),
                amplitude=(rnd.between(0.08, 0.25), rnd.between(0.08, 0.25)),
                speed=(rnd.between(0.35, 0.9), rnd.between(0.3, 0.8)),
                phase=(rnd.between(0, 2 * math.pi), rnd.between(0, 2 * math.pi)),
            )
        )
    accent = tuple(round(c * 255) for c in _hsv(base + 0.5, 0.45, 1.0))
    return _Look(
        top=top,
        bottom=bottom,
        angle=rnd.between(0, 2 * math.pi),
        blobs=tuple(blobs),
        accent=(accent[0], accent[1], accent[2]),
    )


@lru_cache(maxsize=8)
def _grid(width: int, height: int) -> tuple[_FloatArray, _FloatArray]:
    """Pixel-centre coordinates of the low-resolution canvas, in units of the short side."""
    scale = _LOW_RES_LONG_SIDE / max(width, height)
    low_w, low_h = max(2, round(width * scale)), max(2, round(height * scale))
    short = min(width, height)
    xs = (np.arange(low_w, dtype=np.float64) + 0.5) / low_w * width / short
    ys = (np.arange(low_h, dtype=np.float64) + 0.5) / low_h * height / short
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    return gx, gy


def _background(look: _Look, width: int, height: int, t: float) -> Image.Image:
    """Gradient plus drifting soft glows, computed small and scaled up (they are all smooth)."""
    gx, gy = _grid(width, height)
    aspect_w, aspect_h = width / min(width, height), height / min(width, height)
    angle = look.angle + 0.25 * math.sin(t * 0.35)
    dx, dy = math.cos(angle), math.sin(angle)
    # Project onto the gradient direction and normalise to 0..1 across the frame.
    proj = gx * dx + gy * dy
    corners = [0.0, aspect_w * dx, aspect_h * dy, aspect_w * dx + aspect_h * dy]
    low, high = min(corners), max(corners)
    ramp = np.clip((proj - low) / (high - low), 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep: softer ends
    top = np.asarray(look.top, dtype=np.float64)
    bottom = np.asarray(look.bottom, dtype=np.float64)
    canvas: _FloatArray = top + (bottom - top) * ramp[..., None]

    for blob in look.blobs:
        cx = blob.centre[0] + blob.amplitude[0] * math.sin(blob.speed[0] * t + blob.phase[0])
        cy = blob.centre[1] + blob.amplitude[1] * math.sin(blob.speed[1] * t + blob.phase[1])
        radius = blob.radius * (1.0 + 0.12 * math.sin(0.7 * t + blob.phase[0]))
        dist2 = (gx - cx * aspect_w) ** 2 + (gy - cy * aspect_h) ** 2
        glow = np.exp(dist2 * (-1.0 / (2 * radius * radius))) * 0.55
        colour = np.asarray(blob.color, dtype=np.float64)
        # Screen blend: brightens without clipping to white.
        canvas = 1.0 - (1.0 - canvas) * (1.0 - glow[..., None] * colour)

    # A gentle vignette keeps the eye in the middle and the corners from looking flat.
    vx = gx / aspect_w - 0.5
    vy = gy / aspect_h - 0.5
    canvas = canvas * (1.0 - 0.45 * (vx * vx + vy * vy))[..., None]
    small = Image.fromarray(np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB")
    return small.resize((width, height), Image.Resampling.BILINEAR)


_fonts = threading.local()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels, cached per thread (a FreeType face must not be
    used by two threads at once, and several renders may run side by side)."""
    cache: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont]
    cache = _fonts.__dict__.setdefault("by_size", {})
    if size not in cache:
        cache[size] = ImageFont.load_default(size=size)
    return cache[size]


def _text_width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> float:
    return float(font.getlength(text))


_REPLACEMENTS = {"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u00a0": " ", "\u00df": "ss"}
_MISSING = "?"


@lru_cache(maxsize=4096)
def _glyph(char: str) -> str:
    """``char`` if the built-in font can draw it, else the closest thing it can draw.

    Pillow's built-in font covers ASCII and a little punctuation only: accented letters lose
    their accents (``é`` → ``e``), and scripts it lacks (CJK, emoji) become ``?``.
    """
    font = _font(20)
    missing = font.getmask("\uffff")
    mask = font.getmask(char)
    if char.isspace() or mask.size != missing.size or bytes(mask) != bytes(missing):
        return char
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", char) if c.isascii() and c.isprintable()
    )
    return folded or _MISSING


def _drawable(text: str) -> str:
    return "".join(_glyph(char) for char in text)


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> int:
    """How many leading characters of ``text`` fit in ``width`` pixels (at least one)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _text_width(font, text[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float, max_lines: int
) -> list[str]:
    """Greedy word wrap to ``width`` pixels; words longer than a line are broken; the last line
    gets an ellipsis when the text does not fit in ``max_lines``."""
    # No line holds more than a few hundred characters: do not wrap a whole 10 000-char prompt.
    words = " ".join(text[: 400 * (max_lines + 1)].split()).split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if _text_width(font, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while len(current) > 1 and _text_width(font, current) > width:
            cut = _fit(current, font, width)
            lines.append(current[:cut])
            current = current[cut:]
        if len(lines) > max_lines:
            break
    if current:
        lines.append(current)
    if len(lines) > max_lines or len(text) > 400 * (max_lines + 1):
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _text_width(font, last + "\u2026") > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "\u2026"
    return lines


@dataclass(frozen=True)
class _Overlay:
    """A pre-rendered layer (built once per prompt, seed and size) pasted on every frame.

    PIL's RGBA is straight (not premultiplied) alpha, so pasting the RGB part through the alpha
    channel as a mask is exactly an "over" composite.
    """

    image: Image.Image
    mask: Image.Image
    position: tuple[int, int]

    @classmethod
    def from_rgba(cls, layer: Image.Image, position: tuple[int, int]) -> _Overlay:
        return cls(layer.convert("RGB"), layer.getchannel("A"), position)

    def paste_on(self, image: Image.Image) -> None:
        image.paste(self.image, self.position, self.mask)


_INK = (250, 250, 252, 255)
_SHADE = (10, 12, 20)


def _text_top(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, line_h: int) -> int:
    """Where to draw a line of text so that it sits vertically centred in ``line_h`` pixels."""
    _, top, _, bottom = font.getbbox("Hxgy")
    return (line_h - (int(bottom) - int(top))) // 2 - int(top)


@lru_cache(maxsize=16)
def _prompt_card(prompt: str, seed: int, width: int, height: int) -> _Overlay:
    """The prompt, word-wrapped in a rounded translucent card with an accent bar, centred."""
    look = _look(prompt, seed)
    short = min(width, height)
    size = max(11, round(short * 0.046))
    font = _font(size)
    pad = max(8, round(size * 0.9))
    accent_w = max(3, round(size * 0.14))
    text_x = pad + accent_w + round(size * 0.6)
    max_card_w = round(min(width * 0.84, height * 1.35))
    line_h = round(size * 1.35)
    max_lines = max(1, int((height * 0.42 - 2 * pad) // line_h))
    lines = _wrap(_drawable(prompt), font, max_card_w - text_x - pad, max_lines) or [""]
    longest = max(_text_width(font, line) for line in lines)
    card_w = min(max_card_w, round(text_x + longest + pad * 1.2))
    card_h = 2 * pad + line_h * len(lines)

    layer = Image.new("RGBA", (card_w, card_h), (*_SHADE, 0))
    draw = ImageDraw.Draw(layer)
    radius = max(6, round(size * 0.7))
    draw.rounded_rectangle((0, 0, card_w - 1, card_h - 1), radius=radius, fill=(*_SHADE, 165))
    draw.rounded_rectangle(
        (pad, pad, pad + accent_w - 1, card_h - pad - 1),
        radius=accent_w // 2,
        fill=(*look.accent, 255),
    )
    y = pad + _text_top(font, line_h)
    for line in lines:
        draw.text((text_x, y), line, font=font, fill=_INK)
        y += line_h
    return _Overlay.from_rgba(layer, ((width - card_w) // 2, (height - card_h) // 2))


@dataclass(frozen=True)
class _Hud:
    """The per-size parts of the heads-up display: label, timecode pill and progress track."""

    label: _Overlay
    stamp_pill: Image.Image  # an L mask: where to darken behind the timecode
    stamp_origin: tuple[int, int]  # where the pill goes
    stamp_text: tuple[int, int]  # where the timecode text goes
    font_size: int
    track: tuple[int, int, int, int]  # the progress bar's box
    track_mask: Image.Image


def _pill(size: tuple[int, int], radius: int, alpha: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius, fill=alpha)
    return mask


@lru_cache(maxsize=16)
def _hud(width: int, height: int, total: int) -> _Hud:
    short = min(width, height)
    size = max(12, round(short * 0.032))
    font = _font(size)
    margin = max(6, round(short * 0.035))
    pad_x, line_h = round(size * 0.7), round(size * 1.7)
    radius = line_h // 2

    label_w = round(_text_width(font, _LABEL)) + 2 * pad_x
    layer = Image.new("RGBA", (label_w, line_h), (*_SHADE, 0))
    draw = ImageDraw.Draw(layer)
    draw.rounded_rectangle((0, 0, label_w - 1, line_h - 1), radius, fill=(*_SHADE, 130))
    draw.text((pad_x, _text_top(font, line_h)), _LABEL, font=font, fill=_INK)
    label = _Overlay.from_rgba(layer, (margin, margin))

    bar_h = max(2, round(short * 0.005))
    bar_y = height - margin - bar_h
    # Wide enough for the widest timecode this clip can show.
    widest = _stamp(total - 1, 1, total).translate(str.maketrans("0123456789", "8888888888"))
    stamp_w = round(_text_width(font, widest)) + 2 * pad_x
    stamp_y = bar_y - round(size * 0.6) - line_h
    return _Hud(
        label=label,
        stamp_pill=_pill((stamp_w, line_h), radius, 130),
        stamp_origin=(margin, stamp_y),
        stamp_text=(margin + pad_x, stamp_y + _text_top(font, line_h)),
        font_size=size,
        track=(margin, bar_y, width - margin, bar_y + bar_h),
        track_mask=Image.new("L", (width - 2 * margin, bar_h), 110),
    )


def _stamp(index: int, fps: int, total: int) -> str:
    """``00:01.250 · frame 030/095``: time of the frame and its (zero-based) index."""
    minutes, seconds = divmod(index / fps, 60.0)
    last = max(total - 1, 0)
    return f"{int(minutes):02d}:{seconds:06.3f}  \u00b7  frame {index:0{len(str(last))}d}/{last}"


def _draw_hud(image: Image.Image, spec: SynthSpec, index: int, total: int) -> None:
    """Label, timecode, frame number and a thin progress bar, on top of everything else."""
    hud = _hud(image.width, image.height, total)
    hud.label.paste_on(image)
    image.paste(_SHADE, hud.stamp_origin, hud.stamp_pill)
    draw = ImageDraw.Draw(image)
    draw.text(
        hud.stamp_text, _stamp(index, spec.fps, total), font=_font(hud.font_size), fill=_INK[:3]
    )

    left, top, right, bottom = hud.track
    image.paste((0, 0, 0), (left, top), hud.track_mask)
    done = index / (total - 1) if total > 1 else 1.0
    filled = left + round((right - left) * done)
    if filled > left:
        draw.rectangle((left, top, filled - 1, bottom - 1), fill=(235, 235, 240))


# --------------------------------------------------------------------------------------------
# First and last frame images


@lru_cache(maxsize=8)
def _keyframe_cached(path: str, stamp: tuple[int, int], width: int, height: int) -> Frame:
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaUnreadable(f"cannot read image {path}: {exc}", details={"path": path}) from exc
    fitted = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    array = np.asarray(fitted, dtype=np.uint8)
    array.setflags(write=False)
    return array


def _keyframe(path: Path, width: int, height: int) -> Frame:
    """The image at ``path``, cover-fitted (scaled and centre-cropped) to ``width`` x ``height``."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise MediaUnreadable(
            f"cannot read image {path}: {exc.strerror or exc}", details={"path": str(path)}
        ) from exc
    return _keyframe_cached(str(path), (stat.st_mtime_ns, stat.st_size), width, height)


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def _keyframe_weights(spec: SynthSpec, index: int, total: int) -> tuple[float, float]:
    """How much of the first and the last image show in frame ``index`` (1.0 = only the image)."""
    fade = max(1, round(min(_FADE_SECONDS, spec.duration / 3) * spec.fps))
    first = 1.0 - _smoothstep(index / fade) if spec.first_frame is not None else 0.0
    last = 1.0 - _smoothstep((total - 1 - index) / fade) if spec.last_frame is not None else 0.0
    return first, last


def _mix(base: Frame, image: Frame, weight: float) -> Frame:
    if weight <= 0.0:
        return base
    if weight >= 1.0:
        return image.copy()
    mixed = base.astype(np.float32) * (1.0 - weight) + image.astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Public API


def render_frame(spec: SynthSpec, index: int) -> Frame:
    """Frame ``index`` of the clip as an ``(height, width, 3)`` uint8 RGB array.

    Deterministic: it depends only on the prompt, seed, frame size and index (and, for the
    timecode and fades, the fps and duration).
    """
    total = frame_count(spec)
    if not 0 <= index < max(total, 1):
        raise IndexError(f"frame {index} is outside the clip (0..{total - 1})")
    if spec.effect == "black":
        return np.zeros((spec.height, spec.width, 3), dtype=np.uint8)
    if spec.effect == "frozen" and index:
        return render_frame(spec, 0)
    width, height = spec.width, spec.height
    t = index / spec.fps
    look = _look(spec.prompt, spec.seed)
    image = _background(look, width, height, t)
    card = _prompt_card(spec.prompt, spec.seed, width, height)
    image.paste(card.image, card.position, card.mask)

    first, last = _keyframe_weights(spec, index, total)
    if first > 0.0 or last > 0.0:
        frame: Frame = np.asarray(image, dtype=np.uint8)
        if spec.first_frame is not None:
            frame = _mix(frame, _keyframe(spec.first_frame, width, height), first)
        if spec.last_frame is not None:
            frame = _mix(frame, _keyframe(spec.last_frame, width, height), last)
        image = Image.fromarray(frame, "RGB")

    _draw_hud(image, spec, index, total)
    if spec.effect == "marker" and index >= total // 2:
        ImageDraw.Draw(image).rectangle(
            (width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=MARKER_RGB
        )
    return np.asarray(image, dtype=np.uint8).copy()


def _tone(seed: int) -> tuple[tuple[float, ...], float]:
    """A short looping melody (frequencies in Hz) and the note length, from the seed."""
    rnd = _Bytes(hashlib.sha256(f"vidgate-tone\x00{seed}".encode()).digest())
    root = 220.0 * 2 ** (int(rnd.unit() * 12) / 12)
    pentatonic = (0, 2, 4, 7, 9, 12, 14, 16)
    notes = tuple(
        root * 2 ** (pentatonic[int(rnd.unit() * len(pentatonic))] / 12) for _ in range(8)
    )
    return notes, rnd.between(0.35, 0.6)


def _audio_chunk(
    notes: tuple[float, ...], note_len: float, start: int, count: int
) -> npt.NDArray[np.float32]:
    """``count`` stereo samples (planar, shape ``(2, count)``) starting at sample ``start``."""
    t = (np.arange(start, start + count, dtype=np.float64)) / _AUDIO_RATE
    slot = np.floor(t / note_len).astype(np.int64)
    local = t - slot * note_len
    freq = np.asarray(notes, dtype=np.float64)[slot % len(notes)]
    # Soft attack, exponential decay, and a short release so each note ends at zero (no clicks).
    envelope = np.minimum(local / 0.02, 1.0) * np.exp(-local * 4.0)
    envelope *= np.minimum((note_len - local) / 0.02, 1.0)
    left = np.sin(2 * np.pi * freq * local) + 0.3 * np.sin(4 * np.pi * freq * local)
    right = np.sin(2 * np.pi * freq * 1.003 * local) + 0.3 * np.sin(3 * np.pi * freq * local)
    amp = 0.09
    return np.stack([left * envelope * amp, right * envelope * amp]).astype(np.float32)


@contextlib.contextmanager
def _temporary_sibling(out_path: Path) -> Iterator[Path]:
    """A temp file next to ``out_path``; removed unless the caller has moved it away."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def render(
    spec: SynthSpec, out_path: Path, *, progress: Callable[[float], None] | None = None
) -> None:
    """Encode the clip to ``out_path`` as an H.264 (yuv420p) MP4 with ``+faststart``.

    Exactly :func:`frame_count` frames at ``spec.fps`` with time base ``1/fps``, so the probed
    duration equals the request. With ``spec.audio``, an AAC stereo track of the same length is
    added. The file is written to a temporary sibling and moved into place with ``os.replace``.
    ``progress`` is called with the fraction of frames encoded (ending with ``1.0``).
    """
    total = frame_count(spec)
    if total < 1:
        raise ValueError(f"{spec.duration} s at {spec.fps} fps is less than one frame")
    if spec.width % 2 or spec.height % 2:
        raise ValueError(f"H.264 4:2:0 needs even dimensions, not {spec.width}x{spec.height}")
    # Fail on a bad keyframe image before any encoding starts.
    for keyframe in (spec.first_frame, spec.last_frame):
        if keyframe is not None:
            _keyframe(keyframe, spec.width, spec.height)

    out_path = Path(out_path)
    with _temporary_sibling(out_path) as tmp:
        _encode(spec, tmp, total, progress)
        os.replace(tmp, out_path)
    if progress is not None:
        progress(1.0)


class _AudioTrack:
    """Feeds the seed's tone pattern to an AAC stream, one 1024-sample frame at a time."""

    def __init__(self, container: av.container.OutputContainer, spec: SynthSpec) -> None:
        self._container = container
        self._stream = container.add_stream("aac", rate=_AUDIO_RATE, layout="stereo")
        self._stream.bit_rate = 96_000
        self._notes, self._note_len = _tone(spec.seed)
        self._total = round(spec.duration * _AUDIO_RATE)
        self._done = 0
        self._silent = spec.effect == "silent"

    def advance(self, seconds: float) -> None:
        """Encode every whole AAC frame that ends at or before ``seconds``."""
        target = min(self._total, round(seconds * _AUDIO_RATE))
        while self._done + _AUDIO_CHUNK <= target:
            self._encode(_AUDIO_CHUNK)

    def finish(self) -> None:
        """Encode the rest (the last frame may be short) and flush the encoder."""
        while self._done < self._total:
            self._encode(min(_AUDIO_CHUNK, self._total - self._done))
        self._container.mux(self._stream.encode(None))

    def _encode(self, count: int) -> None:
        samples = _audio_chunk(self._notes, self._note_len, self._done, count)
        if self._silent:
            samples = np.zeros_like(samples)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = _AUDIO_RATE
        frame.pts = self._done
        frame.time_base = Fraction(1, _AUDIO_RATE)
        self._container.mux(self._stream.encode(frame))
        self._done += count


def _yuv_frame(spec: SynthSpec, index: int) -> av.VideoFrame:
    rgb = av.VideoFrame.from_ndarray(render_frame(spec, index), format="rgb24")
    return rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")


def _frames_ahead(spec: SynthSpec, total: int) -> Iterator[av.VideoFrame]:
    """Frames in order, each drawn on a helper thread while the encoder works on earlier ones.

    NumPy, Pillow and swscale release the GIL for their heavy lifting, so drawing overlaps with
    x264's own threads. Frames are pure functions of the index: the order of work cannot change
    the output.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidgate-synth") as pool:
        pending: deque[Future[av.VideoFrame]] = deque()
        next_index = 0
        try:
            while next_index < total or pending:
                while next_index < total and len(pending) < _LOOKAHEAD:
                    pending.append(pool.submit(_yuv_frame, spec, next_index))
                    next_index += 1
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _encode(
    spec: SynthSpec, path: Path, total: int, progress: Callable[[float], None] | None
) -> None:
    container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=spec.fps, options=dict(_X264_OPTIONS))
        video.width = spec.width
        video.height = spec.height
        video.pix_fmt = "yuv420p"
        frame_time_base = Fraction(1, spec.fps)
        # The MP4 muxer rescales the *stream* time base when it writes the header (1/24 becomes
        # 1/12288), so frames carry this fixed one rather than reading video.time_base back.
        video.time_base = frame_time_base
        video.codec_context.time_base = frame_time_base
        video.thread_count = _X264_THREADS
        video.gop_size = max(1, spec.fps * 2)
        # Tag what the RGB -> YUV conversion below does: BT.709, limited range.
        video.color_range = 1
        video.colorspace = 1
        video.color_primaries = 1
        video.color_trc = 1
        audio = _AudioTrack(container, spec) if spec.audio else None

        reported = 0.0
        if spec.effect == "short":
            total = max(1, round(total * _SHORT_FRACTION))
        for index, frame in enumerate(_frames_ahead(spec, total)):
            frame.pts = index
            frame.time_base = frame_time_base
            container.mux(video.encode(frame))
            if audio is not None:
                audio.advance((index + 1) / spec.fps)
            fraction = (index + 1) / total
            if progress is not None and fraction - reported >= 0.01 and index + 1 < total:
                progress(fraction)
                reported = fraction

        container.mux(video.encode(None))
        if audio is not None:
            audio.finish()
    finally:
        container.close()
