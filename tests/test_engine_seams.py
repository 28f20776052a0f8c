"""The engine's seams: one parse_ref(), typed JSON-able step payloads, no provider wire facts read
by the engine, and no import circle inside the engine package."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from dbos import DBOS
from pydantic import BaseModel

import vidgate
from tests.conftest import small_request
from vidgate.engine import Engine, payloads
from vidgate.providers.base import OutputRef, TaskStatus
from vidgate.settings import Settings
from vidgate.types import CostQuote, JobError, JobStatus, MediaInfo, ModelRef, parse_ref

ENGINE = Path(vidgate.__file__).parent / "engine"


def test_parse_ref_takes_a_model_reference_apart() -> None:
    assert parse_ref("runway:gen4.5") == ModelRef("runway", "gen4.5")
    assert parse_ref("runway:gen4.5").provider == "runway"
    assert parse_ref("runway") == ModelRef("runway", None)
    assert parse_ref("runway:") == ModelRef("runway", None)
    assert parse_ref("replicate:owner/model:v1") == ModelRef("replicate", "owner/model:v1")


def _sources() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(ENGINE.glob("*.py"))
    }


def test_the_engine_splits_no_reference_and_reads_no_wire_table() -> None:
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr != "wire", f"engine/{name}.py reads a provider's wire facts"
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("split", "partition", "rsplit")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == ":"
            ):
                pytest.fail(f"engine/{name}.py splits a reference itself: use parse_ref()")


def test_the_engine_package_has_no_import_circle() -> None:
    """Every import counts, the ones inside functions too."""
    modules = _sources()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [node.module] if node.module else [a.name for a in node.names]
                edges[name] |= {t.split(".")[0] for t in targets if t.split(".")[0] in modules}
            elif isinstance(node, ast.ImportFrom) and node.module == "vidgate.engine":
                edges[name] |= {a.name for a in node.names if a.name in modules}
    edges.pop("__init__")  # the package's face imports what it exports
    for start in edges:
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            here = todo.pop()
            assert here != start, f"import circle through engine/{start}.py"
            if here not in seen and here in edges:
                seen.add(here)
                todo.extend(edges[here])
    assert "workflow" not in edges["runtime"]


@pytest.mark.parametrize(
    ("payload", "model", "extra"),
    [
        (payloads.QuotePayload, CostQuote, set()),
        (payloads.ErrorPayload, JobError, set()),
        (payloads.OutputPayload, OutputRef, set()),
        (payloads.MediaPayload, MediaInfo, set()),
        (
            payloads.PollPayload,
            TaskStatus,
            {"deadline_exceeded", "queue_timeout", "interval", "held", "woken"},
        ),
    ],
)
def test_payloads_match_the_models_they_are_dumped_from(
    payload: Any, model: type[BaseModel], extra: set[str]
) -> None:
    assert set(get_type_hints(payload)) == set(model.model_fields) | extra


async def test_every_checkpointed_step_result_is_plain_json(settings: Settings) -> None:
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("[simulate:fail@1] a fox"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)
        assert done.status is JobStatus.COMPLETED, done.error
        steps = [
            *await DBOS.list_workflow_steps_async(job.id),
            *await DBOS.list_workflow_steps_async(f"{job.id}-1"),
            *await DBOS.list_workflow_steps_async(f"{job.id}-2"),
        ]
    names = {step["function_name"] for step in steps}
    assert {"vidgate.route", "vidgate.submit", "vidgate.poll", "vidgate.validate"} <= names
    for step in steps:
        output = step["output"]
        if isinstance(output, BaseException):
            continue
        assert json.loads(json.dumps(output)) == output, step["function_name"]
