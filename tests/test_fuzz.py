"""A bounded schemathesis run over the gateway's own /openapi.json, in process (ASGI): no input,
valid or not, makes a 5xx, and every answer matches the document (status codes, content types,
bodies). Deterministic (derandomized Hypothesis) and bounded per operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from vidgate.server import create_app
from vidgate.settings import Settings

#: Examples per operation and generation mode (17 operations, 10 of them with invalid inputs to
#: try too): about 20 s on two cores.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_survives_schemathesis(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path / "home", public_url=None), worker=False)
    book = app.state.gateway.tenants
    tenant = book.create_key("fuzz").secret
    admin = book.create_key("fuzz-ops", admin=True).secret
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        key = admin if "/admin/" in operation.path else tenant
        raw = operation.definition.raw
        modes = [GenerationMode.POSITIVE]
        if "requestBody" in raw or any(p.get("in") == "query" for p in raw.get("parameters", [])):
            modes.append(GenerationMode.NEGATIVE)  # a string path parameter has no invalid value
        for mode in modes:
            strategy = operation.as_strategy(mode, headers={"Authorization": f"Bearer {key}"})

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                pass  # no invalid input exists for this operation's parameters
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
    # Its duration is not asserted (a timed test fails on a busy machine, not on a slow API):
    # about 20 s on two quiet cores for 17 operations; more operations, proportionally more.


@pytest.mark.parametrize("path", ["/v1/videos", "/v1/videos/estimate"])
def test_the_document_promises_no_422_and_the_error_body(tmp_path: Path, path: str) -> None:
    app = create_app(Settings(home=tmp_path / "home"), worker=False)
    document = app.openapi()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]
    responses = document["paths"][path]["post"]["responses"]
    for status in ("400", "401", "413", "429"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    body = document["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error"]
