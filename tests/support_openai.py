"""What the OpenAI Sora contract files share: the key, a submission builder, bounded polling, the
simulator's address and the ``api`` fixture (the simulator, with the adapter pointed at it by
``VIDGATE_OPENAI_BASE_URL`` and a dummy key set).
"""

from __future__ import annotations

import secrets

import pytest

from tests.support import CATALOG, make_submission, poll_until
from vidgate.providers.base import Submission, TaskStatus
from vidgate.providers.openai import OpenAIProvider
from vidgate.simulator.server import RunningSimulator

KEY = "sk-test-vidgate-0123456789abcdef"


@pytest.fixture
def api(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    """The simulator, with the adapter pointed at it and a dummy key set."""
    monkeypatch.setenv("VIDGATE_OPENAI_BASE_URL", simulator.url + "/openai/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return simulator


def base_of(sim: RunningSimulator) -> str:
    return sim.url + "/openai/v1"


def submission(
    prompt: str = "a paper boat drifts on a pond",
    *,
    aspect_ratio: str = "16:9",
    image: str | None = None,
    model: str = "sora-2",
    reference: str | None = None,
) -> Submission:
    profile = CATALOG.get(f"openai:{model}")
    return make_submission(
        profile,
        reference or f"att_{secrets.token_hex(5)}-1",
        prompt=prompt,
        duration=4,
        resolution="720p",
        aspect_ratio=aspect_ratio,
        image=image,
        model=profile.ref,
    )


async def poll_until_done(
    provider: OpenAIProvider, remote_id: str, timeout: float = 15.0, interval: float = 0.05
) -> list[TaskStatus]:
    """Every status seen until the video ends (polling with a deadline)."""
    return await poll_until(provider, remote_id, timeout=timeout, interval=interval)
