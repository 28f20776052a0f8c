"""Media: the synthetic renderer, probe, output validation and thumbnails, on real files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidgate.exceptions import MediaUnreadable, OutputMismatch
from vidgate.media import synth
from vidgate.media.geometry import dimensions_for
from vidgate.media.inspect import inspect
from vidgate.media.probe import probe
from vidgate.media.synth import SynthSpec, frame_count, render, render_frame
from vidgate.media.thumbnail import thumbnail
from vidgate.media.validate import Expected, Tolerances, check_output, problems
from vidgate.types import MediaInfo

PROMPT = "A red fox trotting through fresh snow at golden hour"


def _spec(
    resolution: str = "360p", aspect: str = "16:9", duration: float = 1.0, **kw: object
) -> SynthSpec:
    width, height = dimensions_for(resolution, aspect)
    fields: dict[str, object] = {"prompt": PROMPT, "seed": 7, "fps": 24}
    fields.update(kw)
    return SynthSpec(duration=duration, width=width, height=height, **fields)  # type: ignore[arg-type]


def _render(path: Path, spec: SynthSpec) -> Path:
    render(spec, path)
    return path


@pytest.fixture(scope="module")
def portrait_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """The headline clip: 4 s, 9:16, 720p, 24 fps (with the progress it reported)."""
    seen: list[float] = []
    path = tmp_path_factory.mktemp("portrait") / "clip.mp4"
    render(_spec("720p", "9:16", 4.0), path, progress=seen.append)
    return path, seen


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 16:9, 360p, 24 fps, no audio."""
    return _render(tmp_path_factory.mktemp("short") / "clip.mp4", _spec(duration=2.0))


def _clean_dir(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------- synth + probe


def test_headline_clip_probes_as_requested(portrait_clip: tuple[Path, list[float]]) -> None:
    path, seen = portrait_clip
    info = probe(path)
    assert (info.width, info.height) == (720, 1280)
    assert info.video_codec == "h264"
    assert info.container == "mp4"
    assert info.duration == pytest.approx(4.0, abs=1e-3)
    assert info.frame_count == 96
    assert info.fps == pytest.approx(24.0)
    assert info.pix_fmt == "yuv420p"
    assert info.has_audio is False and info.audio_codec is None
    assert info.size_bytes == path.stat().st_size
    assert info.bit_rate and info.bit_rate > 0
    assert probe(path, decode=True) == info
    # +faststart: the index comes before the media data.
    head = path.read_bytes()
    assert 0 < head.find(b"moov") < head.find(b"mdat")
    # Progress rises to exactly 1.0; no temporary file is left next to the output.
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10
    assert _clean_dir(path.parent) == ["clip.mp4"]


def test_frame_count_rounds_duration_times_fps() -> None:
    assert frame_count(_spec("720p", "9:16", 4.0)) == 96
    assert frame_count(_spec(duration=2.5, fps=30)) == 75
    assert frame_count(_spec(duration=1.02, fps=25)) == 26


def test_render_frame_is_deterministic_and_seeded() -> None:
    spec = _spec()
    frame = render_frame(spec, 5)
    assert frame.shape == (360, 640, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame, render_frame(_spec(), 5))

    def difference(other: np.ndarray) -> float:
        return float(np.abs(frame.astype(np.int16) - other.astype(np.int16)).mean())

    assert difference(render_frame(_spec(seed=8), 5)) > 10
    assert difference(render_frame(_spec(prompt="A quiet harbour at night"), 5)) > 10
    # Things move: a later frame differs, but far less than another seed does.
    assert 0 < difference(render_frame(spec, 6)) < 5


@pytest.mark.parametrize(
    ("resolution", "aspect"),
    [("360p", "9:16"), ("360p", "21:9"), ("360p", "1:1"), ("1080p", "16:9"), ("1080p", "9:16")],
)
def test_render_frame_fits_any_shape(resolution: str, aspect: str) -> None:
    spec = _spec(resolution, aspect, prompt="word " * 400)  # long prompts are truncated
    width, height = dimensions_for(resolution, aspect)
    frame = render_frame(spec, frame_count(spec) - 1)
    assert frame.shape == (height, width, 3)
    assert 20 < frame.mean() < 235  # neither blank nor blown out
    with pytest.raises(IndexError):
        render_frame(spec, frame_count(spec))


def test_render_output_bytes_are_reproducible(tmp_path: Path) -> None:
    spec = _spec(duration=0.5, audio=True)
    first = _render(tmp_path / "a.mp4", spec).read_bytes()
    second = _render(tmp_path / "b.mp4", spec).read_bytes()
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_audio_track_is_aac_of_the_same_length(tmp_path: Path) -> None:
    path = _render(tmp_path / "audio.mp4", _spec(duration=1.5, audio=True))
    info = probe(path, decode=True)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.duration == pytest.approx(1.5, abs=1e-3)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert audio.channels == 2
        assert audio.duration is not None and audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(1.5, abs=0.03)
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio)])
    peak = float(np.abs(samples).max())
    assert 0.01 < peak < 0.5  # a quiet tone, not silence and not loud


def test_render_failure_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real: Callable[[SynthSpec, int], np.ndarray] = synth.render_frame

    def flaky(spec: SynthSpec, index: int) -> np.ndarray:
        if index == 10:
            raise RuntimeError("boom")
        return real(spec, index)

    monkeypatch.setattr(synth, "render_frame", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        render(_spec(duration=1.0), tmp_path / "out.mp4")
    assert _clean_dir(tmp_path) == []


# --------------------------------------------------------------------------- keyframes


def _solid_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int]) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def test_first_and_last_frame_images_show(tmp_path: Path) -> None:
    red = _solid_png(tmp_path / "red.png", (200, 40, 40), (300, 500))  # portrait: cover-fit
    blue = _solid_png(tmp_path / "blue.png", (30, 160, 220), (800, 200))
    spec = _spec(duration=2.0, first_frame=red, last_frame=blue)
    last = frame_count(spec) - 1

    def mean(frame: np.ndarray) -> np.ndarray:
        return np.asarray(frame.reshape(-1, 3).mean(axis=0))

    assert mean(render_frame(spec, 0)) == pytest.approx([200, 40, 40], abs=8)
    assert mean(render_frame(spec, last)) == pytest.approx([30, 160, 220], abs=8)
    middle = mean(render_frame(spec, last // 2))
    assert np.abs(middle - [200, 40, 40]).max() > 30  # the scene, not the image

    # And through the encoder: the first decoded frame is still the image.
    path = _render(tmp_path / "kf.mp4", spec)
    with av.open(str(path)) as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert mean(decoded) == pytest.approx([200, 40, 40], abs=10)


def test_unreadable_first_frame_names_the_path(tmp_path: Path) -> None:
    bogus = tmp_path / "not-an-image.png"
    bogus.write_text("definitely not a PNG", encoding="utf-8")
    with pytest.raises(MediaUnreadable, match=r"not-an-image\.png"):
        render_frame(_spec(first_frame=bogus), 0)
    with pytest.raises(MediaUnreadable, match=r"not-an-image\.png"):
        render(_spec(last_frame=bogus), tmp_path / "out.mp4")
    with pytest.raises(MediaUnreadable, match=r"missing\.png"):
        render(_spec(first_frame=tmp_path / "missing.png"), tmp_path / "out.mp4")
    assert _clean_dir(tmp_path) == ["not-an-image.png"]


# --------------------------------------------------------------------------- validation


def test_check_output_flags_a_short_clip(short_clip: Path) -> None:
    info = probe(short_clip)
    with pytest.raises(OutputMismatch) as caught:
        check_output(info, Expected(duration=4.0, aspect_ratio="16:9"))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0] == "duration is 2.00 s, asked for 4.00 s (tolerance ±0.30 s)"
    assert caught.value.details["expected"]["duration"] == 4.0
    assert caught.value.details["got"]["duration"] == pytest.approx(2.0)
    assert caught.value.code == "output_mismatch"


def test_check_output_flags_the_wrong_aspect(short_clip: Path) -> None:
    info = probe(short_clip)
    with pytest.raises(OutputMismatch) as caught:
        check_output(info, Expected(duration=2.0, aspect_ratio="9:16", width=360, height=640))
    found = caught.value.problems
    assert "aspect ratio is 16:9 (1.778), asked for 9:16 (0.563)" in found
    assert "resolution is 640x360, asked for 360x640" in found
    assert not any("duration" in problem for problem in found)


def test_check_output_passes_within_tolerance(short_clip: Path) -> None:
    info = probe(short_clip)
    within = Expected(
        duration=2.25, aspect_ratio="16:9", width=640, height=360, fps=24, audio=False
    )
    check_output(info, within)
    assert problems(info, within) == []
    # 5% of a 10 s request is 0.5 s: a 9.6 s result passes, 9.4 s does not.
    long = info.model_copy(update={"duration": 9.6})
    assert problems(long, Expected(duration=10.0, aspect_ratio="16:9")) == []
    assert problems(long.model_copy(update={"duration": 9.4}), Expected(10.0, "16:9"))
    # A looser tolerance can be passed in.
    assert problems(info, Expected(4.0, "16:9"), Tolerances(duration_seconds=2.5)) == []


def test_problems_cover_codec_fps_and_audio() -> None:
    info = MediaInfo(
        container="mp4",
        video_codec="mpeg4",
        width=1280,
        height=720,
        duration=5.0,
        fps=30.0,
        frame_count=150,
        size_bytes=1000,
    )
    found = problems(info, Expected(duration=5.0, aspect_ratio="16:9", fps=24, audio=True))
    assert len(found) == 3
    assert any("codec is mpeg4" in p and "h264" in p for p in found)
    assert "frame rate is 30.00 fps, asked for 24 fps (tolerance ±1%)" in found
    assert "audio was asked for, but the video has no audio track" in found
    fine = info.model_copy(update={"video_codec": "hevc", "fps": 24.1, "has_audio": True})
    assert problems(fine, Expected(5.0, "16:9", fps=24, audio=True)) == []


# --------------------------------------------------------------------------- unreadable files


def test_truncated_file_is_unreadable(
    portrait_clip: tuple[Path, list[float]], tmp_path: Path
) -> None:
    data = portrait_clip[0].read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaUnreadable, match="truncated"):
        probe(half, decode=True)
    # The index is at the front (+faststart), so even a plain probe sees the cut.
    with pytest.raises(MediaUnreadable, match="truncated"):
        probe(half)
    # Cut inside the index itself: the file cannot even be opened as a video.
    stub = tmp_path / "stub.mp4"
    stub.write_bytes(data[:600])
    with pytest.raises(MediaUnreadable):
        probe(stub)


def test_corrupt_media_data_is_caught_by_decoding(short_clip: Path, tmp_path: Path) -> None:
    data = bytearray(short_clip.read_bytes())
    start, end = len(data) // 2, len(data) * 9 // 10
    data[start:end] = bytes(end - start)  # same size, so the index still looks fine
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(data))
    assert probe(corrupt).frame_count == 48
    with pytest.raises(MediaUnreadable, match=r"corrupt\.mp4"):
        probe(corrupt, decode=True)


@pytest.mark.parametrize("name", ["notes.txt", "notes.mp4", "notes"])
def test_text_file_is_unreadable(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("This is not a video.\n" * 50, encoding="utf-8")
    with pytest.raises(MediaUnreadable, match=name):
        probe(path)
    with pytest.raises(MediaUnreadable):
        thumbnail(path, tmp_path / "thumb.jpg")


def test_other_non_videos_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(MediaUnreadable, match="no such file"):
        probe(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaUnreadable, match="empty"):
        probe(empty)
    with pytest.raises(MediaUnreadable, match="still image"):
        probe(_solid_png(tmp_path / "still.png", (1, 2, 3), (64, 64)))
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=48000, layout="stereo")
        for index in range(5):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, 1024), np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(MediaUnreadable, match="no video stream"):
        probe(audio_only)


# --------------------------------------------------------------------------- thumbnail


def test_thumbnail_is_a_scaled_jpeg(
    portrait_clip: tuple[Path, list[float]], tmp_path: Path
) -> None:
    out = tmp_path / "thumbs" / "thumb.jpg"
    size = thumbnail(portrait_clip[0], out, max_width=320)
    with Image.open(out) as image:
        assert image.format == "JPEG"
        assert image.size == size
    width, height = size
    assert width == 320
    assert height / width == pytest.approx(1280 / 720, abs=0.01)
    assert _clean_dir(out.parent) == ["thumb.jpg"]


def test_thumbnail_picks_the_frame_at_the_requested_time(short_clip: Path, tmp_path: Path) -> None:
    spec = _spec(duration=2.0)
    # Past the end is clamped into the clip: the last frame.
    assert thumbnail(short_clip, tmp_path / "end.jpg", at=99.0) == (640, 360)
    # Never scaled up; the default time is a third of the way in (frame 16 of 48).
    assert thumbnail(short_clip, tmp_path / "third.jpg", max_width=4000) == (640, 360)
    # The timecode corner tells neighbouring frames apart; the thumbnail matches its own frame.
    corner = (slice(288, 360), slice(0, 320))
    for name, index in (("end.jpg", 47), ("third.jpg", 16)):
        with Image.open(tmp_path / name) as image:
            got = np.asarray(image.convert("RGB"), dtype=np.int16)[corner]
        errors = {
            i: float(np.abs(got - render_frame(spec, i).astype(np.int16)[corner]).mean())
            for i in (index - 1, index, min(index + 1, 47))
        }
        assert min(errors, key=errors.__getitem__) == index, errors
        assert errors[index] < 4


# --------------------------------------------------------------------------- one-pass inspect


def test_inspect_agrees_with_the_full_decode_and_writes_the_thumbnail(
    portrait_clip: tuple[Path, list[float]], tmp_path: Path
) -> None:
    path = portrait_clip[0]
    thumb = tmp_path / "thumb.jpg"
    info = inspect(path, thumbnail_to=thumb)
    assert info == probe(path, decode=True)
    with Image.open(thumb) as image:
        assert image.format == "JPEG"
        assert image.size == (640, 1138)  # 720x1280 scaled down to the 640 cap


def test_inspect_counts_packets_when_the_container_records_no_frame_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clip.webm"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(30):
            array = np.full((48, 64, 3), index * 8, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    # One group of pictures (30 frames): only the first 10 are decoded, yet every packet counts.
    info = inspect(path, thumbnail_to=tmp_path / "thumb.jpg", tail_frames=10)
    assert (info.container, info.video_codec, info.frame_count) == ("webm", "vp9", 30)
    assert info.duration == pytest.approx(1.25, abs=0.05)
    assert (tmp_path / "thumb.jpg").is_file()


def test_inspect_rejects_truncated_and_corrupt_files(
    portrait_clip: tuple[Path, list[float]], short_clip: Path, tmp_path: Path
) -> None:
    data = portrait_clip[0].read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaUnreadable, match="truncated"):
        inspect(half)
    # The simulator's corrupt fault (40-70 % zeroed) and the probe test's (50-90 %).
    for low, high in ((0.4, 0.7), (0.5, 0.9)):
        damaged = bytearray(short_clip.read_bytes())
        start, end = int(len(damaged) * low), int(len(damaged) * high)
        damaged[start:end] = bytes(end - start)
        corrupt = tmp_path / f"corrupt-{low}.mp4"
        corrupt.write_bytes(bytes(damaged))
        with pytest.raises(MediaUnreadable, match="corrupt"):
            inspect(corrupt, thumbnail_to=tmp_path / "never.jpg")
    assert not (tmp_path / "never.jpg").exists()
