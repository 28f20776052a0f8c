"""The CLI as a user runs it: real jobs on the simulated provider, real files, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

# Tables wrap at the terminal width; give them room so assertions see whole cells.
os.environ["COLUMNS"] = "250"

from vidgate.cli import app
from vidgate.media.probe import probe

runner = CliRunner()
SMALL = ["--duration", "1", "--resolution", "360p", "--aspect", "9:16"]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_generate_writes_a_verified_video_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "fox.mp4"
    code, stdout, stderr = run("generate", "a red fox in snow", *SMALL, "--out", str(out))
    assert code == 0, stderr
    info = probe(out)
    assert (info.width, info.height, info.video_codec) == (360, 640, "h264")
    assert info.duration == pytest.approx(1.0, abs=1e-3)
    assert str(out) in stdout
    assert "simulated:synth-1" in stdout and "360x640, 1.00 s" in stdout
    assert "no provider API key is set" in stderr  # said once, on stderr


def test_generate_json_is_the_job_schema() -> None:
    code, stdout, _ = run("generate", "a red fox", *SMALL, "--seed", "3", "--json")
    assert code == 0
    job = json.loads(stdout)
    assert job["status"] == "completed" and job["progress"] == 100
    assert job["request"]["seed"] == 3
    assert job["output"]["media"]["height"] == 640
    assert job["attempts"][0]["provider"] == "simulated"


def test_failed_job_exits_1_with_its_code() -> None:
    code, _, stderr = run("generate", "[simulate:fail] a fox", *SMALL)
    assert code == 1
    assert "generation_failed" in stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--duration", "0.7"], "durations: 1-60 s in 0.5 s steps"),
        (["--aspect", "wide"], "aspect_ratio must look like 16:9"),
        (["--resolution", "huge"], "resolution must look like 720p"),
        (["--model", "openai:sora-2"], "retired on 2026-09-24"),
        (["--model", "simulated:synth-9"], "did you mean 'synth-1'"),
        (["--image", "/nonexistent/first.png"], "image file not found"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args: list[str], needle: str) -> None:
    code, stdout, stderr = run("generate", "a fox", *args)
    assert code == 2
    assert needle in stderr
    assert "Traceback" not in stdout + stderr


def test_detach_then_inspect() -> None:
    code, stdout, _ = run("generate", "a lighthouse", *SMALL, "--detach")
    assert code == 0
    job_id = stdout.strip()
    assert job_id.startswith("job_")
    code, stdout, _ = run("jobs", "show", job_id, "--json")
    shown = json.loads(stdout)
    assert shown["status"] == "queued" and shown["events"][0]["message"] == "job created"
    code, stdout, _ = run("jobs", "list")
    assert job_id in stdout


def test_jobs_show_has_history_and_provider_calls() -> None:
    code, stdout, _ = run("generate", "a fox", *SMALL, "--json")
    job_id = json.loads(stdout)["id"]
    code, stdout, _ = run("jobs", "show", job_id)
    assert code == 0
    for needle in ("attempts", "history", "provider calls", "LOCAL", "simulated://tasks/"):
        assert needle in stdout
    code, stdout, _ = run("jobs", "show", job_id, "--json")
    body = json.loads(stdout)
    assert body["request_log"][0]["method"] == "LOCAL"
    assert body["events"][-1]["phase"] == "done"
    code, _, stderr = run("jobs", "show", "job_doesnotexist")
    assert code == 2 and "no job with id" in stderr


def test_models_and_providers() -> None:
    code, stdout, _ = run("models", "--json")
    assert code == 0
    rows = {row["model"]: row for row in json.loads(stdout)}
    assert rows["simulated:synth-1"]["ready"] is True
    assert rows["openai:sora-2"]["lifecycle"] == "retired"
    code, stdout, _ = run("models")
    assert "simulated:synth-1" in stdout
    code, stdout, _ = run("providers", "--json")
    providers = {row["provider"]: row for row in json.loads(stdout)}
    assert providers["simulated"]["ready"] is True
    assert providers["openai"]["ready"] is False


def test_probe_refuses_a_non_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video", encoding="utf-8")
    code, _, stderr = run("probe", str(text))
    assert code == 1 and "media_unreadable" in stderr


def test_an_unreachable_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_DATABASE_URL", "postgresql://nobody:sekret@127.0.0.1:1/none")
    code, stdout, stderr = run("jobs", "list")
    assert code == 1 and "error[database]" in stderr
    assert "sekret" not in stdout + stderr and "Traceback" not in stderr
