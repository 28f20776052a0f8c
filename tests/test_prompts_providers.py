"""Prompts rendered per provider, end to end: the engine runs jobs against the simulator twins
and the tests read what each twin received — the negative prompt in the provider's own field
(Veo's ``parameters.negativePrompt``), folded into the text where the model has none (Luma),
dropped where the provider's guide warns against it (Runway) — and that the attempt records
exactly what was sent, with the warning in the job's history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support import run_job
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import JobStatus, VideoRequest

PARTS = {
    "subject": "a red fox",
    "action": "trots through fresh snow",
    "camera": "slow dolly-in at ground level",
    "lighting": "golden hour backlight",
    "atmosphere": "quiet, misty",
    "style": "cinematic",
    "negative": "blur, text",
}


@pytest.fixture
async def engine(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("RUNWAYML_API_SECRET", "rw-test-secret-0123456789")
    monkeypatch.setenv("LUMAAI_API_KEY", "luma-test-key-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-test-key-0123456789abcdef")
    monkeypatch.setenv("FAL_KEY", "fal-key-id:fal-key-secret-0123456789")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test-token-0123456789abcdef")
    async with Engine(Settings()) as running:
        yield running


def _task(simulator: RunningSimulator, provider: str) -> Any:
    [task] = [t for t in simulator.state.tasks.values() if t.provider == provider]
    return task


async def test_veo_gets_the_negative_prompt_in_its_own_field_and_its_guides_order(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt=PARTS, model="google:veo-3.1-fast-generate-preview", duration=4)
    done = await run_job(engine, request, timeout=180)
    assert done.status is JobStatus.COMPLETED, done.error
    body = _task(simulator, "google").extra["body"]
    sent = body["instances"][0]["prompt"]
    # Google's Veo guide: subject, action, style, camera, then light and mood.
    assert sent == (
        "A red fox trots through fresh snow. Style: cinematic. Camera: slow dolly-in at ground "
        "level. Lighting: golden hour backlight. Atmosphere: quiet, misty."
    )
    assert body["parameters"]["negativePrompt"] == "blur, text"
    [attempt] = done.attempts
    assert attempt.prompt_sent is not None
    assert attempt.prompt_sent.prompt == sent
    assert attempt.prompt_sent.negative_prompt == "blur, text"
    assert (attempt.prompt_sent.negative, attempt.prompt_sent.warnings) == ("field", [])


async def test_luma_has_no_negative_field_so_it_is_folded_into_the_text_with_a_warning(
    engine: Engine, simulator: RunningSimulator
) -> None:
    request = VideoRequest(prompt=PARTS, model="luma:ray-flash-2", resolution="540p")
    done = await run_job(engine, request, timeout=180)
    assert done.status is JobStatus.COMPLETED, done.error
    received = _task(simulator, "luma").extra["request"]
    assert received["prompt"] == (
        "A red fox trots through fresh snow. Camera: slow dolly-in at ground level. Lighting: "
        "golden hour backlight. Atmosphere: quiet, misty. Style: cinematic. Avoid: blur, text."
    )
    assert "negative_prompt" not in received
    [attempt] = done.attempts
    assert attempt.prompt_sent is not None
    assert attempt.prompt_sent.prompt == received["prompt"]
    assert attempt.prompt_sent.negative == "folded"
    assert attempt.prompt_sent.negative_prompt is None
    history = [e.message for e in engine.events(done.id)]
    assert any("folded into the text" in line for line in history), history


async def test_runway_drops_the_negative_prompt_and_keeps_the_prompt_under_its_limit(
    engine: Engine, simulator: RunningSimulator
) -> None:
    long_style = "cinematic, " + ", ".join(f"detail {i}" for i in range(60))
    parts = {**PARTS, "style": long_style[:500], "atmosphere": "quiet " * 80}
    request = VideoRequest(prompt=parts, model="runway:gen4.5")
    done = await run_job(engine, request, timeout=180)
    assert done.status is JobStatus.COMPLETED, done.error
    body = _task(simulator, "runway").extra["body"]
    sent = body["promptText"]
    assert len(sent) <= 1000  # gen4.5 takes 1000 characters
    assert sent.startswith("A red fox trots through fresh snow. Camera: slow dolly-in")
    assert "Style:" not in sent  # the last section in Runway's order went first
    assert "blur" not in sent and "negativePrompt" not in body
    [attempt] = done.attempts
    assert attempt.prompt_sent is not None
    assert attempt.prompt_sent.prompt == sent
    assert attempt.prompt_sent.negative == "dropped"
    warnings = attempt.prompt_sent.warnings
    assert any("left out its style" in w for w in warnings), warnings
    assert any("negative prompt was dropped" in w for w in warnings), warnings
    history = [e.message for e in engine.events(done.id)]
    assert set(warnings) <= set(history)


async def test_a_subject_too_long_for_the_model_is_refused_before_anything_is_sent(
    engine: Engine, simulator: RunningSimulator
) -> None:
    from vidgate.exceptions import PromptInvalid

    request = VideoRequest(prompt={"subject": "a fox " * 200}, model="runway:gen4.5")
    with pytest.raises(PromptInvalid, match="limit: 1000") as refused:
        await engine.submit(request)
    assert refused.value.details["reason"] == "too_long"
    assert not simulator.state.tasks


@pytest.mark.parametrize(
    ("ref", "resolution", "provider", "negative", "folded"),
    [
        ("fal:fal-ai/wan-25-preview/text-to-video", "480p", "fal", "blur, text", False),
        ("fal:fal-ai/minimax/hailuo-02/standard/text-to-video", "768p", "fal", None, True),
        ("replicate:google/veo-3.1-fast", "720p", "replicate", "blur, text", False),
    ],
)
async def test_fal_and_replicate_models_get_the_negative_in_their_field_or_folded(
    engine: Engine,
    simulator: RunningSimulator,
    ref: str,
    resolution: str,
    provider: str,
    negative: str | None,
    folded: bool,
) -> None:
    request = VideoRequest(prompt=PARTS, model=ref, resolution=resolution)
    done = await run_job(engine, request, timeout=180)
    assert done.status is JobStatus.COMPLETED, done.error
    received = _task(simulator, provider).extra["input"]
    if provider == "fal":
        received = received.get("input", received)
    assert received.get("negative_prompt") == negative
    assert received["prompt"].startswith("A red fox trots through fresh snow. Camera:")
    assert received["prompt"].endswith("Avoid: blur, text.") is folded
    [attempt] = done.attempts
    assert attempt.prompt_sent is not None
    assert (attempt.prompt_sent.prompt, attempt.prompt_sent.negative_prompt) == (
        received["prompt"],
        negative,
    )
