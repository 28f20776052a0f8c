from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vidgate.catalog import (
    Catalog,
    DurationRange,
    LifecycleStage,
    ModelProfile,
    ProviderProfile,
    load_catalog,
    quote,
    violations,
)
from vidgate.catalog.loader import DATA_DIR, load_provider_file
from vidgate.exceptions import ConfigurationError, UnknownModel
from vidgate.types import VideoRequest


def veo_like(**overrides: Any) -> ModelProfile:
    """A model shaped like Veo: 4/6/8 s, 720p or 1080p, and 1080p only at 8 s."""
    fields: dict[str, Any] = {
        "id": "veo-like",
        "provider": "acme",
        "title": "Veo-like",
        "modes": ["text_to_video", "image_to_video"],
        "durations": [4, 6, 8],
        "default_duration": 8,
        "resolutions": ["720p", "1080p"],
        "default_resolution": "720p",
        "aspect_ratios": ["16:9", "9:16"],
        "default_aspect_ratio": "16:9",
        "fps": [24],
        "default_fps": 24,
        "audio": "optional",
        "seed": True,
        "negative_prompt": True,
        "prompt_max_chars": 50,
        "rules": [
            {
                "when": {"resolution": ["1080p"]},
                "require": {"duration": [8]},
                "message": "1080p is rendered only at 8 s",
            }
        ],
        "price": {
            "tiers": [
                {"usd_per_second": 0.10},
                {"resolution": "1080p", "usd_per_second": 0.20},
                {"resolution": "1080p", "audio": True, "usd_per_second": 0.40},
            ],
            "source": "test",
            "as_of": "2026-11-01",
        },
    }
    fields.update(overrides)
    return ModelProfile.model_validate(fields)


def test_cross_parameter_rule() -> None:
    model = veo_like()
    assert violations(model, VideoRequest(prompt="x", duration=8, resolution="1080p")) == []
    problems = violations(model, VideoRequest(prompt="x", duration=4, resolution="1080p"))
    assert problems == ["1080p is rendered only at 8 s"]
    assert violations(model, VideoRequest(prompt="x", duration=4, resolution="720p")) == []


def test_each_capability_is_checked_and_explained() -> None:
    model = veo_like(audio="none", seed=False, negative_prompt=False)
    request = VideoRequest(
        prompt="y" * 60,
        duration=7,
        resolution="2160p",
        aspect_ratio="1:1",
        fps=60,
        audio=True,
        seed=3,
        negative_prompt="blur",
        video="clip.mp4",
    )
    text = "\n".join(violations(model, request))
    for expected in (
        "mode extension is not offered",
        "duration 7 s is not offered (durations: 4 s, 6 s, 8 s)",
        "resolution 2160p is not offered (resolutions: 720p, 1080p)",
        "aspect ratio 1:1 is not offered",
        "60 fps is not offered",
        "audio is not offered",
        "a seed is not accepted",
        "60 characters (limit: 50)",
    ):
        assert expected in text
    # A negative prompt is never a refusal: the model gets it folded in or dropped, with a warning.
    assert "negative" not in text


def test_quote_picks_the_most_specific_tier() -> None:
    model = veo_like()
    assert quote(model, VideoRequest(prompt="x", duration=4)).usd == pytest.approx(0.40)
    at_1080 = quote(model, VideoRequest(prompt="x", duration=8, resolution="1080p"))
    assert at_1080.usd == pytest.approx(1.60)
    with_audio = quote(model, VideoRequest(prompt="x", duration=8, resolution="1080p", audio=True))
    assert with_audio.usd == pytest.approx(3.20)
    assert with_audio.basis == "$0.4/s x 8 s at 1080p with audio"


def test_duration_range_steps() -> None:
    span = DurationRange(min=1, max=10, step=0.5)
    assert span.allows(1) and span.allows(4.5) and span.allows(10)
    assert not span.allows(4.25) and not span.allows(10.5) and not span.allows(0.5)


def test_lifecycle_moves_with_its_dates() -> None:
    model = veo_like(
        lifecycle={"stage": "ga", "deprecated_on": "2026-03-24", "retires_on": "2026-09-24"}
    )
    assert model.lifecycle.stage_on(date(2026, 1, 1)) is LifecycleStage.GA
    assert model.lifecycle.stage_on(date(2026, 5, 1)) is LifecycleStage.DEPRECATED
    assert model.lifecycle.stage_on(date(2026, 9, 24)) is LifecycleStage.RETIRED


def test_profile_defaults_must_be_allowed_values() -> None:
    with pytest.raises(ValidationError, match="default_duration"):
        veo_like(default_duration=5)
    with pytest.raises(ValidationError, match="exactly one of durations or duration_range"):
        veo_like(duration_range={"min": 1, "max": 5})
    with pytest.raises(ValidationError, match="unknown rule fields"):
        veo_like(rules=[{"when": {"colour": ["red"]}, "require": {}, "message": "?"}])


def test_lookup_errors_suggest_the_right_name() -> None:
    catalog = load_catalog()
    with pytest.raises(UnknownModel, match="did you mean 'simulated'"):
        catalog.get("simulatd:synth-1")
    with pytest.raises(UnknownModel, match="did you mean 'synth-1'"):
        catalog.get("simulated:synth-2")
    with pytest.raises(UnknownModel, match="provider:model"):
        catalog.get("synth-1")


def test_simulated_is_in_the_builtin_catalogue() -> None:
    model = load_catalog().get("simulated:synth-1")
    assert model.provider == "simulated"
    assert quote(model, VideoRequest(prompt="x")).usd == 0


def test_a_local_catalogue_file_adds_a_model_without_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (DATA_DIR / "simulated.toml").read_text(encoding="utf-8")
    (tmp_path / "simulated.toml").write_text(
        text.replace('id = "synth-1"', 'id = "synth-local"'), encoding="utf-8"
    )
    monkeypatch.setenv("VIDGATE_CATALOG_DIR", str(tmp_path))
    # A later file for the same provider replaces the built-in one.
    assert [m.id for m in load_catalog().provider("simulated").models] == [
        "synth-local",
        "synth-draft",
    ]
    monkeypatch.delenv("VIDGATE_CATALOG_DIR")
    assert [m.id for m in load_catalog().provider("simulated").models] == [
        "synth-1",
        "synth-draft",
    ]


def test_a_broken_catalogue_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntitle = "Bad"\nmodels = []\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"bad\.toml"):
        load_provider_file(bad)


def test_duplicate_model_ids_are_refused() -> None:
    model = veo_like().model_dump(mode="json")
    with pytest.raises(ValidationError, match="duplicate model ids"):
        ProviderProfile.model_validate({"name": "acme", "title": "Acme", "models": [model, model]})


def test_catalog_is_iterable_over_all_models() -> None:
    catalog = Catalog([ProviderProfile(name="acme", title="Acme", models=[veo_like()])])
    assert [m.ref for m in catalog] == ["acme:veo-like"]
