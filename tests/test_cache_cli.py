"""The result cache through the CLI: generate, estimate, jobs show, --no-cache. Its own module:
the API tests' module-scoped gateway keeps an engine (and DBOS) running in this process until
their module ends, and a CLI command starts an engine of its own."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vidgate.cli import app


def test_the_cli_serves_from_the_cache_and_no_cache_generates() -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout

    small = ["--duration", "1", "--resolution", "360p", "--seed", "9"]
    code, out = run("generate", "a kite over a beach", *small, "--json")
    assert code == 0
    first = json.loads(out)
    assert first["cached"] is None

    code, out = run("estimate", "a kite over a beach", *small, "--json")
    assert code == 0 and json.loads(out)["cache"]["cached_from"] == first["id"]

    code, out = run("generate", "a kite over a beach", *small, "--json")
    hit = json.loads(out)
    assert code == 0 and hit["cached"]["job_id"] == first["id"] and hit["cost_usd"] == 0
    code, out = run("jobs", "show", hit["id"])
    assert code == 0 and f"from job {first['id']} (exact)" in out

    code, out = run("generate", "a kite over a beach", *small, "--no-cache", "--json")
    assert code == 0 and json.loads(out)["cached"] is None
    code, _ = run("generate", "a kite", *small, "--no-cache", "--cache", "similar")
    assert code == 2
