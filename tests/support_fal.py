"""What the fal contract files share: the key, the model, a submission builder, the
simulator's addresses, and the fixtures: ``fal_env`` (the simulator, with the adapter pointed at it
by ``VIDGATE_FAL_QUEUE_URL`` and ``VIDGATE_FAL_JWKS_URL``), ``fal`` (the adapter) and the autouse
``fresh_jwks_cache``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import vidgate.providers.fal as fal_module
from tests.support import CATALOG, make_submission
from vidgate.providers.base import Submission
from vidgate.providers.fal import FalProvider, split_remote_id
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator

KEY = "fal-key-id:fal-key-secret-0123456789"
SEEDANCE = "fal:fal-ai/bytedance/seedance/v1/pro/text-to-video"
SEEDANCE_PATH = "/fal-ai/bytedance/seedance/v1/pro/text-to-video"


def submission(
    prompt: str = "a red fox in snow",
    model: str = SEEDANCE,
    reference: str = "ref-1",
    callback_url: str | None = None,
    **fields: Any,
) -> Submission:
    """The cheapest request the model takes unless ``fields`` say otherwise (Seedance: 2 s at
    480p)."""
    profile = CATALOG.get(model)
    values: dict[str, Any] = {"prompt": prompt}
    if model == SEEDANCE:
        values.update(duration=2, resolution="480p")
    else:
        values.update(duration=profile.default_duration, resolution=profile.default_resolution)
    values.update(fields)
    return make_submission(profile, reference, callback_url=callback_url, **values)


def api(simulator: RunningSimulator) -> str:
    return simulator.url + "/fal"


def sim_task(simulator: RunningSimulator, remote_id: str) -> Any:
    return simulator.state.tasks[split_remote_id(remote_id)[1]]


@pytest.fixture(autouse=True)
def fresh_jwks_cache() -> Iterator[None]:
    fal_module._jwks_cache.clear()
    yield
    fal_module._jwks_cache.clear()


@pytest.fixture
def fal_env(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    monkeypatch.setenv("VIDGATE_FAL_QUEUE_URL", api(simulator))
    monkeypatch.setenv("VIDGATE_FAL_JWKS_URL", api(simulator) + "/.well-known/jwks.json")
    monkeypatch.setenv("FAL_KEY", KEY)
    return simulator


@pytest.fixture
async def fal(fal_env: RunningSimulator, settings: Settings) -> AsyncIterator[FalProvider]:
    provider = FalProvider(settings)
    yield provider
    await provider.aclose()
