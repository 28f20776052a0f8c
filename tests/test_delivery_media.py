"""Delivery on real files: a corpus of odd provider-like outputs (``delivery_corpus``) through
``delivery.build``, every output probed with PyAV as a player would read it."""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from tests.delivery_corpus import CORPUS, make
from vidgate.delivery.build import Rendition, build, build_file
from vidgate.delivery.profile import DEFAULT_PROFILE, DeliveryProfile, parse_profile
from vidgate.exceptions import InvalidDeliveryProfile, MediaUnreadable
from vidgate.settings import Settings

PROFILE = DeliveryProfile(tiers=("144p",))
#: Sources that already are browser-safe H.264/AAC MP4s: remuxed, not encoded.
REMUXED = {"safe_h264", "no_faststart", "no_audio", "silent_audio", "quicktime"}
#: The size each source is shown at (rotated, cropped to even).
SHOWN = {"rotated": (180, 320), "odd_size": (320, 178)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    return {name: make(name, folder) for name in CORPUS}


@pytest.fixture(scope="module")
def built(
    corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict[str, Rendition]]]:
    out: dict[str, tuple[Path, dict[str, Rendition]]] = {}
    for name, source in corpus.items():
        folder = tmp_path_factory.mktemp(f"out_{name}")
        out[name] = folder, {r.variant: r for r in build(source, folder, PROFILE)}
    return out


def _moov_first(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


def _video_facts(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        packets = [p for p in container.demux(video) if p.size]
        steps = {
            b.pts - a.pts
            for a, b in zip(
                sorted(packets, key=lambda p: p.pts),
                sorted(packets, key=lambda p: p.pts)[1:],
                strict=False,
            )
        }
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return {
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "size": (video.codec_context.width, video.codec_context.height),
            "duration": float(video.duration * video.time_base) if video.duration else 0.0,
            "cfr": len(steps) <= 1,
            "audio": audio,
            "format": container.format.name,
        }


def _decodes(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_browser_safe_mp4_plays_everywhere(
    name: str, corpus: dict[str, Path], built: dict[str, tuple[Path, dict[str, Rendition]]]
) -> None:
    folder, renditions = built[name]
    video = renditions["video"]
    path = folder / video.files[0]
    facts = _video_facts(path)
    with av.open(str(corpus[name])) as source:
        source_duration = float(source.duration or 0) / av.time_base
        source_audio = bool(source.streams.audio)
    assert facts["codec"] == "h264" and facts["pix_fmt"] in ("yuv420p", "yuvj420p")
    width, height = facts["size"]  # type: ignore[misc]
    assert width % 2 == 0 and height % 2 == 0
    assert (width, height) == SHOWN.get(name, (320, 180))
    assert facts["cfr"], "constant frame rate"
    assert abs(float(facts["duration"]) - source_duration) < 0.15  # type: ignore[arg-type]
    assert _moov_first(path), "faststart: the index before the media"
    assert facts["audio"] == ("aac" if source_audio else None)
    assert video.remuxed is (name in REMUXED)
    assert video.content_type == "video/mp4" and path.suffix == ".mp4"
    assert video.codecs is not None and video.codecs.startswith("avc1.")
    assert video.bytes == path.stat().st_size
    assert video.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert _decodes(path) >= 30


def test_a_remux_copies_the_frames_and_moves_the_index_first(
    corpus: dict[str, Path], built: dict[str, tuple[Path, dict[str, Rendition]]]
) -> None:
    assert not _moov_first(corpus["no_faststart"])
    folder, renditions = built["no_faststart"]
    out = folder / renditions["video"].files[0]
    assert _moov_first(out)
    with av.open(str(corpus["no_faststart"])) as a, av.open(str(out)) as b:
        before = [bytes(p) for p in a.demux(video=0) if p.size]
        after = [bytes(p) for p in b.demux(video=0) if p.size]
    assert before == after


def test_the_original_is_kept_with_its_real_type(
    corpus: dict[str, Path], built: dict[str, tuple[Path, dict[str, Rendition]]]
) -> None:
    folder, renditions = built["vp9_webm"]
    original = renditions["original"]
    assert original.files == ("original.webm",)
    assert original.content_type == "video/webm" and original.codec == "vp9"
    assert (folder / "original.webm").read_bytes() == corpus["vp9_webm"].read_bytes()
    assert built["hevc"][1]["original"].codec == "hevc"
    quicktime = built["quicktime"][1]
    assert quicktime["original"].files == ("original.mov",)
    assert quicktime["original"].content_type == "video/quicktime"
    assert quicktime["video"].content_type == "video/mp4" and quicktime["video"].remuxed


def test_tiers_below_the_source_only(built: dict[str, tuple[Path, dict[str, Rendition]]]) -> None:
    folder, renditions = built["hevc"]
    tier = renditions["144p"]
    facts = _video_facts(folder / tier.files[0])
    assert facts["codec"] == "h264" and facts["size"] == (256, 144)
    assert (tier.width, tier.height) == (256, 144)
    # A tier not smaller than the source is not made (the source size is the "video").
    _, rotated = built["rotated"]
    assert rotated["144p"].width == 144


def _playlist(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line]


@pytest.mark.parametrize("name", ["hevc", "safe_h264", "vfr"])
def test_hls_playlists_parse_and_every_segment_decodes(
    name: str, built: dict[str, tuple[Path, dict[str, Rendition]]]
) -> None:
    folder, renditions = built[name]
    hls = renditions["hls"]
    master = folder / hls.files[0]
    assert master.name == "master.m3u8"
    assert hls.content_type == "application/vnd.apple.mpegurl"
    lines = _playlist(master)
    assert lines[0] == "#EXTM3U" and "#EXT-X-INDEPENDENT-SEGMENTS" in lines
    infs = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    uris = [line for line in lines if not line.startswith("#")]
    assert len(infs) == len(uris) == 2  # the source size and 144p
    durations = []
    for inf, uri in zip(infs, uris, strict=True):
        assert re.search(r"BANDWIDTH=\d+", inf) and 'CODECS="avc1.' in inf
        media = folder / "hls" / uri
        body = _playlist(media)
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in body and "#EXT-X-ENDLIST" in body
        assert '#EXT-X-MAP:URI="init.mp4"' in body
        segments = [line for line in body if not line.startswith("#")]
        durations.append([line for line in body if line.startswith("#EXTINF")])
        init = (media.parent / "init.mp4").read_bytes()
        for segment in segments:
            joined = media.parent / f"joined_{segment}.mp4"
            joined.write_bytes(init + (media.parent / segment).read_bytes())
            with av.open(str(joined)) as container:
                frames = list(container.decode(video=0))
            assert frames and frames[0].key_frame, "each segment starts with a keyframe"
            joined.unlink()
    assert durations[0] == durations[1], "segments line up across the tiers"
    assert all(str(folder / "hls" / f) for f in hls.files)
    assert hls.bytes == sum((folder / f).stat().st_size for f in hls.files)


def test_hls_segments_cut_on_a_fixed_gop(tmp_path: Path) -> None:
    from vidgate.media.synth import SynthSpec, render

    source = tmp_path / "s.mp4"
    render(SynthSpec(prompt="a gop", seed=1, duration=5.0, width=320, height=180, fps=24), source)
    renditions = {r.variant: r for r in build(source, tmp_path / "out", PROFILE)}
    body = _playlist(tmp_path / "out" / "hls" / "144p" / "index.m3u8")
    lengths = [float(line[8:].rstrip(",")) for line in body if line.startswith("#EXTINF:")]
    assert lengths[:2] == [2.0, 2.0] and abs(sum(lengths) - 5.0) < 0.1
    assert renditions["hls"].files[0] == "hls/master.m3u8"


@pytest.mark.parametrize("name", ["rotated", "vp9_webm"])
def test_sprite_cues_point_inside_the_image(
    name: str, built: dict[str, tuple[Path, dict[str, Rendition]]]
) -> None:
    folder, renditions = built[name]
    sprite, vtt = renditions["sprite"], renditions["sprite_vtt"]
    assert sprite.content_type == "image/jpeg" and vtt.content_type == "text/vtt"
    with Image.open(folder / sprite.files[0]) as image:
        assert image.format == "JPEG"
        width, height = image.size
    text = (folder / vtt.files[0]).read_text()
    assert text.startswith("WEBVTT")
    cues = re.findall(r"(\S+) --> (\S+)\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)", text)
    assert len(cues) == 2  # a 1.5 s clip: a tile a second
    for start, end, target, x, y, w, h in cues:
        assert target == "sprite.jpg" and start < end
        assert int(x) + int(w) <= width and int(y) + int(h) <= height


def test_poster_and_animated_preview(built: dict[str, tuple[Path, dict[str, Rendition]]]) -> None:
    folder, renditions = built["rotated"]
    with Image.open(folder / renditions["poster"].files[0]) as poster:
        assert poster.format == "JPEG" and poster.size == (180, 320)
    preview = renditions["preview"]
    assert preview.content_type == "image/webp" and preview.files == ("preview.webp",)
    with Image.open(folder / preview.files[0]) as image:
        assert image.format == "WEBP" and getattr(image, "is_animated", False)
        assert image.n_frames > 10


def test_webm_and_av1_follow_their_codecs(corpus: dict[str, Path], tmp_path: Path) -> None:
    profile = DeliveryProfile(tiers=(), webm=True, av1=True, hls=False, sprite=False, preview=False)
    renditions = {r.variant: r for r in build(corpus["ten_bit"], tmp_path, profile)}
    assert set(renditions) == {"original", "video", "webm", "av1", "poster"}
    webm = _video_facts(tmp_path / renditions["webm"].files[0])
    assert renditions["webm"].content_type == "video/webm" and renditions["webm"].files == (
        "video.webm",
    )
    assert webm["codec"] == "vp9" and webm["audio"] == "opus" and webm["pix_fmt"] == "yuv420p"
    av1 = _video_facts(tmp_path / renditions["av1"].files[0])
    assert renditions["av1"].content_type == "video/mp4" and av1["audio"] == "aac"
    assert av1["codec"] in ("av1", "libdav1d") and renditions["av1"].codecs.startswith("av01.")  # type: ignore[union-attr]


def test_a_file_that_is_not_video_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaUnreadable):
        build(bad, tmp_path / "out", PROFILE)
    answer = build_file(str(bad), str(tmp_path / "out"), {})
    assert answer["error"]["code"] == "media_unreadable"


def test_the_profile_parses_and_names_what_is_wrong() -> None:
    assert parse_profile(None) == DEFAULT_PROFILE
    assert DEFAULT_PROFILE.tiers == ("480p",) and DEFAULT_PROFILE.hls and not DEFAULT_PROFILE.webm
    profile = parse_profile('{"tiers": ["480p", "720p", "480p"], "av1": true}')
    assert profile.tiers == ("720p", "480p") and profile.av1 and profile.poster
    assert parse_profile({"hls": False}, profile).tiers == ("720p", "480p")
    for bad, field in (
        ('{"tiers": "720p"}', "tiers"),
        ('{"tiers": ["721p"]}', "tiers"),
        ('{"webm": "yes"}', "webm"),
        ('{"dash": true}', "dash"),
        ("[1]", None),
        ("{nope", None),
    ):
        with pytest.raises(InvalidDeliveryProfile) as raised:
            parse_profile(bad)
        assert raised.value.details["field"] == field
    with pytest.raises(InvalidDeliveryProfile):
        Settings(delivery_profile='{"tiers": ["4k"]}')
    assert Settings(delivery_profile='{"webm": true}').resolved_delivery_profile.webm


def test_fps_of_a_variable_rate_source_is_made_constant(
    built: dict[str, tuple[Path, dict[str, Rendition]]],
) -> None:
    folder, renditions = built["vfr"]
    with av.open(str(folder / renditions["video"].files[0])) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(30)
