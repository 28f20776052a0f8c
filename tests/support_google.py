"""What the Google Veo contract files share: the credentials, the models, a submission builder,
the simulator's Gemini API and Vertex AI addresses, and the create body the simulator received.
"""

from __future__ import annotations

from typing import Any

from tests.support import make_submission
from vidgate.providers.base import Submission
from vidgate.simulator.server import RunningSimulator

KEY = "AIza-test-key-0123456789abcdef"
TOKEN = "ya29.test-token-0123456789abcdef"
PROJECT = "vidgate-test"
FAST = "google:veo-3.1-fast-generate-preview"
VERTEX_FAST = "vertex:veo-3.1-fast-generate-001"


def submission(
    prompt: str = "a red fox in snow",
    model: str = FAST,
    reference: str = "ref-1",
    **fields: Any,
) -> Submission:
    """The cheapest request Veo takes unless ``fields`` say otherwise: 4 s at 720p, 16:9."""
    values: dict[str, Any] = {"prompt": prompt, "duration": 4, "resolution": "720p"}
    return make_submission(model, reference, **{**values, **fields})


def gemini_api(simulator: RunningSimulator) -> str:
    return simulator.url + "/gemini"


def vertex_api(simulator: RunningSimulator) -> str:
    return simulator.url + "/vertex"


def body_of(simulator: RunningSimulator, remote_id: str) -> dict[str, Any]:
    """The create body the simulator received for an operation (base64 shortened)."""
    task_id = remote_id.rsplit("/", 1)[-1]
    received: dict[str, Any] = simulator.state.tasks[task_id].extra["body"]
    return received
