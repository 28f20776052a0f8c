"""What a new user meets at admission: the capability table, the refusals (which models could,
and what they need), sizes as the caller wrote them, inputs a model cannot take, and estimate
accepting what create accepts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vidgate import routing
from vidgate.catalog import load_catalog, violations
from vidgate.cli import app as cli
from vidgate.exceptions import UnsupportedRequest
from vidgate.server import create_app
from vidgate.settings import Settings
from vidgate.types import VideoRequest

os.environ["COLUMNS"] = "250"


def test_models_prints_duration_steps_whole() -> None:
    result = CliRunner().invoke(cli, ["models", "--provider", "simulated"])
    assert result.exit_code == 0
    assert "1-60 by 0.5" in result.stdout
    assert "teps" not in result.stdout


def test_refusal_names_every_model_that_can_and_what_it_needs() -> None:
    catalog = load_catalog()
    request = VideoRequest(prompt="a fox", resolution="4k")  # duration left to the model
    with pytest.raises(UnsupportedRequest) as refused:
        routing.plan_route(request, catalog, environ={})
    alternatives = refused.value.details["alternatives"]
    for ref in (
        "google:veo-3.1-generate-preview",
        "vertex:veo-3.1-generate-001",
        "fal:fal-ai/veo3.1",
        "luma:ray-2",
    ):
        assert ref in alternatives
    message = refused.value.message
    assert "google:veo-3.1-generate-preview (set GEMINI_API_KEY" in message
    assert "fal:fal-ai/veo3.1 (set FAL_KEY)" in message
    assert "luma:ray-2 (set LUMAAI_API_KEY" in message
    # A duration the caller chose is held to: no Veo model renders 5 s.
    with pytest.raises(UnsupportedRequest) as chosen:
        routing.plan_route(request.model_copy(update={"duration": 5.0}), catalog, environ={})
    assert "google:veo-3.1-generate-preview" not in chosen.value.details["alternatives"]
    assert "luma:ray-2" in chosen.value.details["alternatives"]


def test_a_configured_alternative_is_named_plainly() -> None:
    request = VideoRequest(prompt="a fox", resolution="4k", model="simulated:synth-1")
    with pytest.raises(UnsupportedRequest) as refused:
        routing.plan_route(request, load_catalog(), environ={"FAL_KEY": "k"})
    assert "fal:fal-ai/veo3.1," in refused.value.message  # no "(set FAL_KEY)"
    assert "(set GEMINI_API_KEY" in refused.value.message


def test_dream_machine_needs_an_image_url_and_routing_says_so(tmp_path: Path) -> None:
    catalog = load_catalog()
    image = tmp_path / "first.png"
    image.write_bytes(b"\x89PNG")
    local = VideoRequest(prompt="a fox", image=str(image))
    assert violations(catalog.get("luma:ray-2"), local) == [
        "a local image file is not accepted (this model needs an image URL, not a local file: "
        "it fetches images itself from public https URLs)"
    ]
    assert not violations(catalog.get("luma:ray-3.2"), local), "Agents takes files inline"
    remote = local.model_copy(update={"image": "https://example.com/first.png"})
    assert not violations(catalog.get("luma:ray-2"), remote)
    plan = routing.plan_route(
        local.model_copy(update={"providers": ("luma",)}), catalog, environ={"LUMAAI_API_KEY": "k"}
    )
    assert [c.ref for c in plan.candidates] == ["luma:ray-3.2"]
    assert "needs an image URL, not a local file" in plan.skipped["luma:ray-2"]
    explicit = local.model_copy(update={"model": "luma:ray-2"})
    with pytest.raises(UnsupportedRequest, match="needs an image URL, not a local file"):
        routing.plan_route(explicit, catalog, environ={"LUMAAI_API_KEY": "k"})


# -- through the app -------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(), worker=False)
    key = app.state.gateway.tenants.create_key("acme").secret
    yield TestClient(app, headers={"Authorization": f"Bearer {key}"})


def test_a_size_is_reported_as_given_with_the_sizes_offered(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("/v1/videos", "/v1/videos/estimate"):
        answer = client.post(path, json={"prompt": "a fox", "size": "1000x1000"})
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "unsupported"
        assert error["message"].startswith("size 1000x1000 is not offered; sizes models render:")
        assert "1080x1080" in error["message"] and "1000p" not in error["message"]
    named = client.post(
        "/v1/videos/estimate",
        json={"prompt": "a fox", "size": "1000x1000", "model": "simulated:synth-1"},
    ).json()["error"]
    assert "simulated:synth-1 renders: 360x360, 480x480, 540x540" in named["message"]
    # A size some model renders is taken, even one whose ratio does not reduce to 16:9 exactly.
    estimate = client.post("/v1/videos/estimate", json={"prompt": "a fox", "size": "854x480"})
    assert estimate.status_code == 200, estimate.text
    # OpenAI's own sizes are within 2 % of a tier's shape: 1792x1024 is 1024p at 16:9.
    monkeypatch.setenv("VIDGATE_ALLOW_RETIRED", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sim")
    sora = client.post(
        "/v1/videos/estimate",
        json={"prompt": "a fox", "size": "1792x1024", "model": "openai:sora-2-pro"},
    )
    assert sora.status_code == 200, sora.text
    assert sora.json()["quote"]["basis"].endswith("at 1024p with audio")


def test_estimate_accepts_what_create_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A catalogue where synth-draft renders 4, 6 or 8 s (default 8), like Veo: no 5 s.
    from vidgate.catalog.loader import DATA_DIR

    text = (Path(DATA_DIR) / "simulated.toml").read_text(encoding="utf-8")
    head, draft = text.split('id = "synth-draft"')
    draft = draft.replace(
        "duration_range = { min = 1, max = 60, step = 0.5 }\ndefault_duration = 5",
        "durations = [4, 6, 8]\ndefault_duration = 8",
        1,
    )
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "simulated.toml").write_text(
        head + 'id = "synth-draft"' + draft, encoding="utf-8"
    )
    monkeypatch.setenv("VIDGATE_CATALOG_DIR", str(tmp_path / "catalog"))
    assert load_catalog().get("simulated:synth-draft").durations == [4, 6, 8]

    app = create_app(Settings(), worker=True)
    key = app.state.gateway.tenants.create_key("acme").secret
    body = {"prompt": "a fox", "model": "simulated:synth-draft", "resolution": "360p"}
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        estimate = client.post("/v1/videos/estimate", json=body)
        assert estimate.status_code == 200, estimate.text
        created = client.post("/v1/videos", json=body)
        assert created.status_code == 200, created.text
        # Not the model's default (8 s, its longest): the shortest at or above 5 s.
        assert estimate.json()["duration"] == created.json()["duration"] == 6
        assert "6 s, the shortest simulated:synth-draft offers" in estimate.json()["notice"]
        assert estimate.json()["model"] == "simulated:synth-draft"
        # A duration the caller chose is still held to, by both.
        for path in ("/v1/videos/estimate", "/v1/videos"):
            refused = client.post(path, json={**body, "duration": 5})
            assert refused.status_code == 400
            assert "durations: 4 s, 6 s, 8 s" in refused.json()["error"]["message"]
