"""`vidgate storage usage | sweep [--dry-run] | policy` on local storage. Its own module: a CLI
command starts an engine of its own."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidgate.cli import app
from vidgate.db import make_engine
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings


def run(*args: str) -> tuple[int, str]:
    # In a thread of its own: the commands call asyncio.run(), which refuses to run where a
    # loop is already running (a test file before this one in the same xdist worker can leave
    # one running on the main thread: Playwright's sync API does).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(CliRunner().invoke, app, list(args)).result()
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_usage_sweep_and_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kept for about a tenth of a millisecond: expired by the time the sweep looks.
    monkeypatch.setenv("VIDGATE_RETENTION_ORIGINALS_DAYS", "1e-9")
    code, out = run("generate", "a kite", "--duration", "1", "--resolution", "360p", "--json")
    assert code == 0
    job = json.loads(out)
    video = Path(job["output"]["uri"])
    assert video.is_file()

    code, out = run("storage", "usage", "--json")
    usage = json.loads(out)
    assert code == 0 and usage["storage"] == str(Settings().resolved_storage_dir)
    kinds = {row["kind"]: row for row in usage["usage"]}
    assert kinds["video"]["bytes"] == video.stat().st_size and kinds["video"]["objects"] == 1
    assert "thumbnail" in kinds

    code, out = run("storage", "sweep", "--dry-run", "--json")
    dry = json.loads(out)
    assert (
        code == 0
        and dry["dry_run"]
        and {a["kind"] for a in dry["assets"]}
        == {
            "original",
            "video",
            "thumbnail",
        }
    )
    assert video.is_file(), "a dry run deletes nothing"
    code, out = run("storage", "sweep")
    assert code == 0 and "3 expired file(s)" in out and "3 object(s) deleted" in out
    assert not video.exists()
    code, out = run("storage", "usage", "--json")
    assert json.loads(out)["usage"] == []
    code, out = run("jobs", "show", job["id"], "--json")
    assert json.loads(out)["output"]["deleted_at"] is not None

    TenantBook(make_engine(Settings().resolved_database_url)).create_key("acme")
    code, out = run("storage", "policy", "acme", "--originals-days", "30", "--json")
    assert code == 0 and json.loads(out) == {
        "tenant": "acme",
        "originals_days": 30.0,
        "renditions_days": None,
        "quarantine_days": None,
    }
    code, out = run("storage", "policy", "acme")
    assert code == 0 and "originals_days: 30" in out and "quarantine_days: keep" in out
    code, out = run("storage", "policy", "acme", "--clear", "--json")
    assert json.loads(out)["originals_days"] == pytest.approx(1e-9)
    code, _ = run("storage", "policy", "nobody", "--originals-days", "3")
    assert code != 0
