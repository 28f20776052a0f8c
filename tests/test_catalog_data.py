"""The shipped catalogue data is usable: it loads, its defaults are self-consistent, its rules and
prices behave as the provider research says, and every adapter-facing mapping is present."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from vidgate.catalog import (
    LifecycleStage,
    ModelProfile,
    load_catalog,
    load_provider_file,
    quote,
    violations,
)
from vidgate.catalog.loader import DATA_DIR
from vidgate.types import Mode, VideoRequest

PROVIDERS = ("runway", "luma", "replicate", "fal", "google", "vertex", "openai")
IMAGE = "https://example.com/first.png"
LAST = "https://example.com/last.png"
VIDEO = "https://example.com/clip.mp4"

CATALOG = load_catalog()
MODELS = [m for m in CATALOG if m.provider in PROVIDERS]

# Tiers the research gives no figure for; quote() answers None there on purpose.
UNPRICED = {
    ("openai:sora-2-pro", "1080p"),  # 1920x1080 is in the March 2026 guide only, price unconfirmed
    ("luma:ray-3.2", "360p"),  # the draft tier has no published figure
}

WIRE_FORMATS = {"int", "str", "str_s", "bool"}


def request_for(model: ModelProfile, mode: Mode | None = None, **overrides: Any) -> VideoRequest:
    """The model's own default request in ``mode`` (its first listed mode unless given)."""
    mode = mode or model.modes[0]
    inputs: dict[str, object] = {}
    if mode is Mode.IMAGE_TO_VIDEO:
        inputs = {"image": IMAGE}
    elif mode is Mode.KEYFRAMES:
        inputs = {"image": IMAGE, "last_frame": LAST}
    elif mode is Mode.EXTENSION:
        inputs = {"video": VIDEO}
    fields: dict[str, object] = {
        "prompt": "a paper boat drifting down a rainy street",
        "duration": model.default_duration,
        "resolution": model.default_resolution,
        "aspect_ratio": model.default_aspect_ratio,
        "fps": model.default_fps,
        **inputs,
        **overrides,
    }
    return VideoRequest.model_validate(fields)


def ids(models: list[ModelProfile]) -> list[str]:
    return [m.ref for m in models]


# -- loading ---------------------------------------------------------------------------------------


def test_every_data_file_loads_and_is_in_the_catalogue() -> None:
    files = sorted(DATA_DIR.glob("*.toml"))
    assert {f.stem for f in files} >= set(PROVIDERS)
    for path in files:
        profile = load_provider_file(path)
        assert profile.name == path.stem, "a file is named after its provider"
        assert profile.name in CATALOG.providers
        assert [m.id for m in CATALOG.provider(profile.name).models] == [
            m.id for m in profile.models
        ]


@pytest.mark.parametrize("name", PROVIDERS)
def test_provider_is_present_with_models_and_key_variables(name: str) -> None:
    profile = CATALOG.provider(name)
    assert profile.models, f"{name} has no models"
    assert profile.env_keys, f"{name} names no credential variable"
    for model in profile.models:
        assert model.provider == name
        assert CATALOG.get(model.ref) is model


def test_the_briefed_key_variables() -> None:
    assert CATALOG.provider("runway").env_keys == ["RUNWAYML_API_SECRET"]
    assert CATALOG.provider("luma").env_keys == ["LUMAAI_API_KEY", "LUMA_API_KEY"]
    assert CATALOG.provider("replicate").env_keys == ["REPLICATE_API_TOKEN"]
    assert CATALOG.provider("fal").env_keys == ["FAL_KEY"]
    assert CATALOG.provider("google").env_keys == ["GEMINI_API_KEY", "GOOGLE_API_KEY"]
    assert CATALOG.provider("openai").env_keys == ["OPENAI_API_KEY"]
    assert CATALOG.provider("runway").base_url == "https://api.dev.runwayml.com"


def test_luma_carries_both_apis() -> None:
    apis = {m.id: m.wire["api"] for m in CATALOG.provider("luma").models}
    assert apis["ray-2"] == apis["ray-flash-2"] == "dream-machine"
    assert apis["ray-3.2"] == "agents"


# -- defaults, quotes, internal consistency --------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=ids(MODELS))
def test_default_request_is_accepted_and_quoted(model: ModelProfile) -> None:
    request = request_for(model)
    assert violations(model, request) == []
    priced = quote(model, request)
    assert priced is not None, f"{model.ref} has no price for its own defaults"
    assert priced.usd > 0
    assert priced.provider == model.provider and priced.model == model.id
    assert priced.source and priced.as_of


@pytest.mark.parametrize("model", MODELS, ids=ids(MODELS))
def test_every_resolution_is_priced_unless_known_unpriced(model: ModelProfile) -> None:
    for resolution in model.resolutions:
        priced = quote(model, request_for(model, resolution=resolution))
        if (model.ref, resolution) in UNPRICED:
            assert priced is None
        else:
            assert priced is not None, f"{model.ref} has no price at {resolution}"


@pytest.mark.parametrize("model", MODELS, ids=ids(MODELS))
def test_price_tiers_and_rules_only_name_values_the_model_offers(model: ModelProfile) -> None:
    for tier in model.price.tiers:
        assert tier.resolution is None or tier.resolution in model.resolutions
        assert tier.duration is None or model.allows_duration(tier.duration)
        assert tier.audio is None or model.audio != "none"
    offered: dict[str, set[Any]] = {
        "mode": {m.value for m in model.modes},
        "resolution": set(model.resolutions),
        "aspect_ratio": set(model.aspect_ratios),
        "fps": set(model.fps),
    }
    for rule in model.rules:
        assert rule.message
        for clause in (rule.when, rule.require):
            for field, values in clause.items():
                for value in values:
                    if field == "duration":
                        assert model.allows_duration(value), (model.ref, rule.message)
                    elif field in offered:
                        assert value in offered[field], (model.ref, field, value)
                    else:
                        assert isinstance(value, bool), (model.ref, field, value)


@pytest.mark.parametrize("model", MODELS, ids=ids(MODELS))
def test_wire_maps_every_offered_input(model: ModelProfile) -> None:
    """A later adapter can build the request from data alone."""
    mapping = model.wire["input"]
    assert "prompt" in mapping
    needs = {
        Mode.IMAGE_TO_VIDEO: ["start_image"],
        Mode.KEYFRAMES: ["end_image"],
        Mode.EXTENSION: ["video"],
    }
    for mode in model.modes:
        for field in needs.get(mode, []):
            assert field in mapping, f"{model.ref} offers {mode.value} but maps no {field}"
    if model.seed:
        assert "seed" in mapping
    if model.negative_prompt:
        assert "negative_prompt" in mapping
    if model.audio == "optional":
        assert "audio" in mapping, f"{model.ref} lets audio be switched but maps no flag"
    assert set(model.wire.get("format", {}).values()) <= WIRE_FORMATS
    if model.durations != [model.default_duration]:
        assert "duration" in mapping, f"{model.ref} offers several durations but maps none"
    if len(model.resolutions) > 1:
        assert {"resolution", "ratio", "size"} & set(mapping)
    if len(model.aspect_ratios) > 1 and not model.wire.get("aspect_ratio_from_image"):
        assert {"aspect_ratio", "ratio", "size"} & set(mapping)


@pytest.mark.parametrize(
    "model",
    [m for m in MODELS if m.provider in ("runway", "openai")],
    ids=ids([m for m in MODELS if m.provider in ("runway", "openai")]),
)
def test_every_size_has_a_wire_string(model: ModelProfile) -> None:
    """Runway's pixel ``ratio`` and OpenAI's ``size`` come from a table keyed by resolution and
    aspect ratio; every allowed pair must be in it, with about the right shape and pixel count."""
    table = model.wire["ratio" if model.provider == "runway" else "size"]
    for resolution in model.resolutions:
        for aspect in model.aspect_ratios:
            wire = table[resolution][aspect]
            sep = ":" if model.provider == "runway" else "x"
            width, height = (int(n) for n in wire.split(sep))
            short = int(resolution.removesuffix("p"))
            # Same pixel budget as the tier's 16:9 frame (Runway's 1104:832 and 1584:672 are
            # 720p-class sizes whose short side is not 720).
            assert abs(width * height / (short * short * 16 / 9) - 1) < 0.2, (model.ref, wire)
            w, h = (int(n) for n in aspect.split(":"))
            assert abs(width / height - w / h) / (w / h) < 0.03, (model.ref, aspect, wire)


# -- lifecycle -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["sora-2", "sora-2-pro"])
def test_sora_is_retired_after_the_shutdown(model_id: str) -> None:
    lifecycle = CATALOG.get(f"openai:{model_id}").lifecycle
    assert lifecycle.deprecated_on == date(2026, 3, 24)
    assert lifecycle.retires_on == date(2026, 9, 24)
    assert lifecycle.note
    assert lifecycle.stage_on(date(2026, 1, 1)) in (LifecycleStage.GA, LifecycleStage.PREVIEW)
    assert lifecycle.stage_on(date(2026, 5, 1)) is LifecycleStage.DEPRECATED
    assert lifecycle.stage_on(date(2026, 9, 24)) is LifecycleStage.RETIRED
    assert lifecycle.stage_on(date(2026, 11, 24)) is LifecycleStage.RETIRED


def test_no_other_model_is_past_retirement_today() -> None:
    today = date(2026, 11, 24)
    retired = {m.ref for m in MODELS if m.lifecycle.stage_on(today) is LifecycleStage.RETIRED}
    assert retired == {"openai:sora-2", "openai:sora-2-pro"}


# -- cross-parameter rules -------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["veo-3.1-generate-preview", "veo-3.1-fast-generate-preview"])
def test_veo_on_gemini_renders_1080p_only_at_8_seconds(model_id: str) -> None:
    veo = CATALOG.get(f"google:{model_id}")
    for short in (4, 6):
        problems = violations(veo, request_for(veo, resolution="1080p", duration=short))
        assert problems and "8-second" in problems[0]
        assert violations(veo, request_for(veo, resolution="4k", duration=short))
        assert violations(veo, request_for(veo, resolution="720p", duration=short)) == []
    assert violations(veo, request_for(veo, resolution="1080p", duration=8)) == []
    assert violations(veo, request_for(veo, resolution="4k", duration=8)) == []


def test_veo_on_gemini_extends_only_at_720p_and_8_seconds() -> None:
    veo = CATALOG.get("google:veo-3.1-generate-preview")
    extend = Mode.EXTENSION
    assert violations(veo, request_for(veo, extend, resolution="720p", duration=8)) == []
    assert violations(veo, request_for(veo, extend, resolution="1080p", duration=8))
    assert violations(veo, request_for(veo, extend, resolution="720p", duration=6))


def test_veo_on_gemini_always_has_audio_and_no_seed() -> None:
    veo = CATALOG.get("google:veo-3.1-generate-preview")
    assert violations(veo, request_for(veo, audio=False))
    assert violations(veo, request_for(veo, seed=7))
    vertex = CATALOG.get("vertex:veo-3.1-generate-001")
    assert violations(vertex, request_for(vertex, audio=False, seed=7)) == []


def test_runway_text_to_video_is_only_16_9_or_9_16() -> None:
    gen45 = CATALOG.get("runway:gen4.5")
    assert violations(gen45, request_for(gen45, aspect_ratio="1:1"))
    assert violations(gen45, request_for(gen45, Mode.IMAGE_TO_VIDEO, aspect_ratio="1:1")) == []
    assert gen45.wire["ratio"]["720p"]["1:1"] == "960:960"


def test_a_last_frame_alone_is_refused_where_documented() -> None:
    veo = CATALOG.get("runway:veo3.1")
    alone = VideoRequest(prompt="a flower blooms", duration=8, last_frame=LAST)
    assert violations(veo, alone)
    assert violations(veo, request_for(veo, Mode.KEYFRAMES)) == []


def test_hailuo_renders_10_seconds_only_at_768p() -> None:
    hailuo = CATALOG.get("replicate:minimax/hailuo-02")
    assert violations(hailuo, request_for(hailuo, duration=10, resolution="1080p"))
    assert violations(hailuo, request_for(hailuo, duration=10, resolution="768p")) == []


# -- prices against the figures in the research ----------------------------------------------------


def usd(ref: str, **overrides: Any) -> float:
    model = CATALOG.get(ref)
    priced = quote(model, request_for(model, **overrides))
    assert priced is not None
    return priced.usd


def test_runway_gen45_costs_12_credits_a_second() -> None:
    # runway-luma-openai.md 2.10: gen4.5 is 12 credits per output second, 1 credit = $0.01;
    # 2.3's captured create response for a 5 s clip is {"estimatedCost": {"credits": 60}}.
    assert usd("runway:gen4.5", duration=5) == pytest.approx(0.60)
    assert usd("runway:gen4.5", duration=10) == pytest.approx(1.20)


def test_runway_veo_price_depends_on_audio() -> None:
    # 2.10: veo3.1 is 20-40 credits/s, audio-dependent (20 without, 40 with, unconfirmed split).
    assert usd("runway:veo3.1", duration=8, audio=False) == pytest.approx(1.60)
    assert usd("runway:veo3.1", duration=8, audio=True) == pytest.approx(3.20)


def test_sora_2_pro_price_per_size() -> None:
    # 4.9: sora-2-pro is $0.30/s at 1280x720 and $0.50/s at 1792x1024.
    assert usd("openai:sora-2-pro", duration=8, aspect_ratio="16:9") == pytest.approx(2.40)
    assert usd("openai:sora-2-pro", duration=12, resolution="1024p") == pytest.approx(6.00)
    assert usd("openai:sora-2", duration=12) == pytest.approx(1.20)  # $0.10/s


def test_luma_is_priced_per_pixel_generated() -> None:
    # 3.9: Luma bills per pixel; ray-2 720p costs about $0.71 for 5 s and $1.27 for 9 s, 4k
    # $6.37 for 5 s (the resale list's figures, 24 fps, 16:9), within a cent.
    assert usd("luma:ray-2", resolution="720p", duration=5) == pytest.approx(0.71, abs=0.01)
    assert usd("luma:ray-2", resolution="720p", duration=9) == pytest.approx(1.27, abs=0.01)
    assert usd("luma:ray-2", resolution="4k", duration=5) == pytest.approx(6.37, abs=0.01)
    assert usd("luma:ray-flash-2", resolution="4k", duration=9) == pytest.approx(3.94, abs=0.01)
    # The aspect ratio counts: a square 720p frame has fewer pixels than a 16:9 one.
    square = usd("luma:ray-2", resolution="720p", duration=5, aspect_ratio="1:1")
    assert square < usd("luma:ray-2", resolution="720p", duration=5)


def test_fal_prices_from_fals_model_pages() -> None:
    # fal.ai model pages: Veo 3.1 $0.20/s silent, $0.40/s with audio, 4k $0.40/$0.60;
    # Kling 2.1 master $1.40 per 5 s then $0.28/s.
    assert usd("fal:fal-ai/veo3.1", duration=8, resolution="1080p", audio=True) == pytest.approx(
        3.20
    )
    assert usd("fal:fal-ai/veo3.1", duration=4, resolution="4k", audio=False) == pytest.approx(1.60)
    ref = "fal:fal-ai/kling-video/v2.1/master/text-to-video"
    assert usd(ref, duration=10, resolution="1080p") == pytest.approx(2.80)
    assert CATALOG.get(ref).price.status == "confirmed"


def test_fal_veo_fast_image_to_video_price() -> None:
    # replicate-fal-veo.md 2.12: 720p/1080p $0.10/s audio off, $0.15/s on; 4k $0.30 / $0.35.
    ref = "fal:fal-ai/veo3.1/fast/image-to-video"
    assert usd(ref, duration=8, resolution="1080p", audio=False) == pytest.approx(0.80)
    assert usd(ref, duration=8, resolution="1080p", audio=True) == pytest.approx(1.20)
    assert usd(ref, duration=8, resolution="4k", audio=True) == pytest.approx(2.80)


def test_veo_on_gemini_price() -> None:
    # 3.9: Veo 3.1 Standard $0.40/s at 720p/1080p, about $0.60/s at 4k (audio always on).
    assert usd("google:veo-3.1-generate-preview", duration=8) == pytest.approx(3.20)
    assert usd("google:veo-3.1-generate-preview", resolution="4k") == pytest.approx(4.80)


# -- local catalogue files -------------------------------------------------------------------------


def test_a_local_file_replaces_the_built_in_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built_in = (DATA_DIR / "runway.toml").read_text(encoding="utf-8")
    head, _, _ = built_in.partition('[[models]]\nid = "gen4_turbo"')
    (tmp_path / "runway.toml").write_text(head, encoding="utf-8")
    monkeypatch.setenv("VIDGATE_CATALOG_DIR", str(tmp_path))
    local = load_catalog()
    assert [m.id for m in local.provider("runway").models] == ["gen4.5"]
    assert set(local.providers) == set(CATALOG.providers)
