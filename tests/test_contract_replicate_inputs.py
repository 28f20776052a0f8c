"""Replicate: the request comes from the catalogue, and the twin accepts what it sends.

The input table, images (HTTPS URLs or small inline files), ``Cancel-After`` from the request's
deadline and the status mapping, checked as data; then every catalogue model and mode submitted to
the simulator on a real loopback port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import support_replicate
from tests.support import CATALOG, write_png
from tests.support_replicate import SEEDANCE, received, submission
from vidgate.catalog.schema import ModelProfile
from vidgate.exceptions import InvalidRequest, UnsupportedRequest
from vidgate.providers import replicate as adapter
from vidgate.providers.base import TaskState
from vidgate.providers.replicate import ReplicateProvider, build_create, cancel_after, status_of
from vidgate.simulator import replicate as twin
from vidgate.simulator.server import RunningSimulator
from vidgate.types import Mode

#: The fixtures this file shares with the other Replicate contract files (pytest finds a
#: fixture by its name in the test's module).
provider = support_replicate.provider


REPLICATE_MODELS = CATALOG.provider("replicate").models
IMAGE = "https://cdn.example/first.png"
LAST = "https://cdn.example/last.png"


# -- the request comes from the catalogue ------------------------------------------------------


def test_inputs_come_from_the_catalogue_wire_table(tmp_path: Path) -> None:
    path, body = build_create(submission(seed=7))
    assert path == "/v1/models/bytedance/seedance-1-pro/predictions"
    assert body == {
        "input": {
            "prompt": "a red fox in snow",
            "duration": 2,
            "aspect_ratio": "16:9",
            "resolution": "480p",
            "seed": 7,
            "fps": 24,
        }
    }
    # Veo: generate_audio from the effective audio flag, last_frame, negative prompt.
    veo = submission(
        model="replicate:google/veo-3.1",
        image=IMAGE,
        last_frame=LAST,
        negative_prompt="blurry",
        aspect_ratio="9:16",
        duration=6,
        resolution="720p",
    )
    assert build_create(veo) == (
        "/v1/models/google/veo-3.1/predictions",
        {
            "input": {
                "prompt": "a red fox in snow",
                "negative_prompt": "blurry",
                "duration": 6,
                "aspect_ratio": "9:16",
                "resolution": "720p",
                "generate_audio": False,
                "image": IMAGE,
                "last_frame": LAST,
            }
        },
    )
    # Kling 2.1: resolution is its `mode` (values table), frames are start/end_image.
    kling = submission(
        model="replicate:kwaivgi/kling-v2.1", image=IMAGE, last_frame=LAST, resolution="1080p"
    )
    assert build_create(kling)[1]["input"] == {
        "prompt": "a red fox in snow",
        "duration": 5,
        "mode": "pro",
        "start_image": IMAGE,
        "end_image": LAST,
    }
    # Hailuo: no aspect ratio parameter at all, first_frame_image.
    hailuo = submission(model="replicate:minimax/hailuo-02", image=IMAGE, resolution="768p")
    assert build_create(hailuo)[1]["input"] == {
        "prompt": "a red fox in snow",
        "duration": 6,
        "resolution": "768p",
        "first_frame_image": IMAGE,
    }
    # Kling 2.5 ignores the aspect ratio with a start image, so it is not sent.
    turbo = submission(model="replicate:kwaivgi/kling-v2.5-turbo-pro", image=IMAGE)
    assert build_create(turbo)[1]["input"] == {
        "prompt": "a red fox in snow",
        "duration": 5,
        "start_image": IMAGE,
    }
    assert "aspect_ratio" in build_create(submission(model=turbo.model.ref))[1]["input"]


def test_the_mapping_is_data_not_code() -> None:
    """Change the catalogue entry and the request changes with it: names, formats, values,
    fixed parameters and the endpoint all come from ``wire``."""
    base = CATALOG.get(SEEDANCE)
    wire = {
        "create": "POST /v1/predictions",
        "version": "owner/model:" + "ab" * 32,
        "input": {"prompt": "text", "duration": "length", "aspect_ratio": "shape"},
        "format": {"duration": "str_s"},
        "values": {"aspect_ratio": {"16:9": "landscape"}},
        "fixed": {"quality": "high"},
    }
    custom = base.model_copy(update={"wire": wire})
    path, body = build_create(submission(profile=custom))
    assert path == "/v1/predictions"
    assert body == {
        "version": "owner/model:" + "ab" * 32,
        "input": {
            "text": "a red fox in snow",
            "length": "2s",
            "shape": "landscape",
            "quality": "high",
        },
    }


def test_images_are_https_urls_or_small_inline_files(tmp_path: Path) -> None:
    image = write_png(tmp_path / "first.png")
    body = build_create(submission(image=str(image)))[1]
    assert body["input"]["image"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert "aspect_ratio" not in body["input"]  # Seedance ignores it with an image
    with pytest.raises(InvalidRequest, match="https URLs"):
        build_create(submission(image="http://cdn.example/a.png"))
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * (adapter.DATA_URI_LIMIT + 1))
    with pytest.raises(InvalidRequest, match="256 KiB"):
        build_create(submission(image=str(huge)))
    with pytest.raises(InvalidRequest, match="not readable"):
        build_create(submission(image=str(tmp_path / "missing.png")))
    # hailuo-2.3 has no last-frame input: refused before anything is sent.
    no_last = submission(model="replicate:minimax/hailuo-2.3", image=IMAGE, last_frame=LAST)
    with pytest.raises(UnsupportedRequest, match="end image"):
        build_create(no_last)


def test_cancel_after_follows_the_request_deadline() -> None:
    assert cancel_after(None) is None
    assert cancel_after(2) == "5s"  # Replicate's minimum
    assert cancel_after(42.2) == "43s"
    assert twin.parse_duration("1h30m45s") == 5445
    assert twin.parse_duration("250ms") == 0.25
    assert twin.parse_duration("12") == 12
    assert twin.parse_duration("5 minutes") is None


def test_statuses_map_to_task_states() -> None:
    base = {"id": "p1", "input": {}, "logs": "", "output": None, "error": None}
    assert status_of({**base, "status": "starting"}).state is TaskState.QUEUED
    running = status_of({**base, "status": "processing", "logs": " 45%|████▌     | 45/100 [0:01]"})
    assert (running.state, running.progress) == (TaskState.RUNNING, 0.45)
    assert status_of({**base, "status": "processing", "logs": "warming up"}).progress is None
    # An output while still processing is not the answer (Prefer: wait can return that).
    early = status_of({**base, "status": "processing", "output": "https://replicate.delivery/x"})
    assert early.state is TaskState.RUNNING and early.outputs == []
    done = status_of({**base, "status": "succeeded", "output": ["https://a/x.mp4"]})
    assert [o.url for o in done.outputs] == ["https://a/x.mp4"]
    for raw in ("canceled", "aborted"):
        ended = status_of({**base, "status": raw})
        assert ended.state is TaskState.CANCELED and ended.raw_status == raw
        assert ended.error is not None and ended.error["details"]["provider_code"] == raw
    unknown = status_of({**base, "status": "booting"})
    assert unknown.state is TaskState.RUNNING


# -- the twin accepts what the catalogue sends --------------------------------------------------


CASES = [(model, mode) for model in REPLICATE_MODELS for mode in model.modes]


@pytest.mark.parametrize(
    ("model", "mode"), CASES, ids=[f"{m.id}-{mode.value}" for m, mode in CASES]
)
async def test_every_catalogue_model_and_mode_is_accepted_by_the_twin(
    provider: ReplicateProvider,
    simulator: RunningSimulator,
    tmp_path: Path,
    model: ModelProfile,
    mode: Mode,
) -> None:
    image = str(write_png(tmp_path / "first.png"))
    frames = {
        Mode.TEXT_TO_VIDEO: {},
        Mode.IMAGE_TO_VIDEO: {"image": image},
        Mode.KEYFRAMES: {"image": image, "last_frame": LAST},
    }[mode]
    extra: dict[str, Any] = {"aspect_ratio": model.default_aspect_ratio, **frames}
    if mode is Mode.KEYFRAMES and "1080p" in model.resolutions:
        extra["resolution"] = "1080p"  # kling-v2.1 takes an end image only in pro mode
    if model.seed:
        extra["seed"] = 3
    sub = submission(model=model.ref, **extra)
    created = await provider.submit(sub)
    assert received(simulator, created.remote_id) == build_create(sub)[1]["input"]
    task = simulator.state.tasks[created.remote_id]
    assert task.model == model.id and task.extra["version"] == "hidden"
    assert task.extra["model_error"] is None  # no check inside predict() fails either
