"""What the Replicate contract files share: the token, the models, a submission builder, the
simulator's address and the ``provider`` fixture (the adapter pointed at the simulator with
``VIDGATE_REPLICATE_BASE_URL``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support import CATALOG, make_submission
from vidgate.catalog.schema import ModelProfile
from vidgate.providers.base import Submission
from vidgate.providers.replicate import ReplicateProvider
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator

KEY = "r8_test-token-0123456789abcdef"
SEEDANCE = "replicate:bytedance/seedance-1-pro"


def submission(
    prompt: str = "a red fox in snow",
    model: str = SEEDANCE,
    reference: str = "ref-1",
    profile: ModelProfile | None = None,
    **fields: Any,
) -> Submission:
    """Seedance at 2 s and 480p (the cheapest render) unless ``fields`` say otherwise; other
    models at their defaults."""
    profile = profile or CATALOG.get(model)
    values: dict[str, Any] = {"prompt": prompt, "duration": profile.default_duration}
    if profile.id == "bytedance/seedance-1-pro":
        values.update(duration=2, resolution="480p")
    else:
        values.update(resolution=profile.default_resolution)
    values.update(fields)
    return make_submission(profile, reference, **values)


def api(simulator: RunningSimulator) -> str:
    return simulator.url + "/replicate"


def auth(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", **extra}


def received(simulator: RunningSimulator, remote_id: str) -> dict[str, Any]:
    """The input the simulator received for a prediction."""
    values: dict[str, Any] = simulator.state.tasks[remote_id].extra["input"]
    return values


@pytest.fixture
async def provider(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[ReplicateProvider]:
    monkeypatch.setenv("VIDGATE_REPLICATE_BASE_URL", api(simulator))
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    made = ReplicateProvider(settings)
    made.prefer_wait = 0  # tests that want the head start turn it on
    yield made
    await made.aclose()
