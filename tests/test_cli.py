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


def test_jobs_show_says_when_a_job_waits_for_a_providers_limit() -> None:
    from vidgate.engine import Engine
    from vidgate.types import Phase, VideoRequest

    store = Engine().runtime.store
    store.create_job("job_waiting", VideoRequest(prompt="a fox"))
    line = "queued for runway's limit (4 at once; 3 of yours ahead)"
    store.set_phase("job_waiting", Phase.PROVIDER_LIMIT, 1.0, line)
    code, stdout, _ = run("jobs", "show", "job_waiting")
    assert code == 0
    assert "in_progress (provider_limit)" in stdout and f"waiting: {line}" in stdout


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
    assert code == 3 and "error[database]" in stderr
    assert "sekret" not in stdout + stderr and "Traceback" not in stderr


def _no_jobs() -> bool:
    code, stdout, _ = run("jobs", "list", "--json")
    return code == 0 and json.loads(stdout) == []


def test_out_naming_a_directory_writes_job_id_mp4_there(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    code, stdout, stderr = run("generate", "a fox", *SMALL, "--out", str(folder), "--json")
    assert code == 0, stderr
    job_id = json.loads(stdout)["id"]
    assert probe(folder / f"{job_id}.mp4").height == 640
    # A path ending in a separator is a directory too, made if missing.
    code, stdout, stderr = run("generate", "a fox", *SMALL, "--out", f"{tmp_path}/new/", "--json")
    assert code == 0, stderr
    assert (tmp_path / "new" / f"{json.loads(stdout)['id']}.mp4").is_file()


def test_an_unwritable_out_is_refused_before_anything_is_submitted(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory", encoding="utf-8")
    code, stdout, stderr = run("generate", "a fox", *SMALL, "--out", str(blocker / "fox.mp4"))
    assert code == 2, stderr
    assert "error[invalid_request]: --out" in stderr and "cannot write to" in stderr
    assert "Traceback" not in stdout + stderr
    assert _no_jobs(), "nothing was submitted"
    code, _, stderr = run("generate", "a fox", *SMALL, "--detach", "--out", str(tmp_path))
    assert code == 2 and "--out needs the job to finish here" in stderr
    assert _no_jobs()


def test_a_failed_write_at_the_end_keeps_the_job_and_says_where_it_is(tmp_path: Path) -> None:
    # The check passes (the folder is writable), the write fails (the link leads nowhere).
    out = tmp_path / "fox.mp4"
    out.symlink_to(tmp_path / "gone" / "fox.mp4")
    code, stdout, stderr = run("generate", "a fox", *SMALL, "--out", str(out))
    assert code == 1
    assert "Traceback" not in stdout + stderr
    assert "error[output_not_written]" in stderr and str(out) in stderr
    code, listed, _ = run("jobs", "list", "--json")
    [job] = json.loads(listed)
    assert job["status"] == "completed"
    assert job["id"] in stderr and job["output"]["uri"] in stderr.replace("\n", "")
    assert Path(job["output"]["uri"]).is_file()


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "a fox"],
        ["jobs", "list"],
        ["models"],
        ["providers"],
        ["keys", "list"],
        ["tenants", "list"],
        ["worker"],
        ["serve"],
    ],
)
def test_a_home_that_is_a_file_is_one_line_for_every_command(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home-file"
    home.write_text("", encoding="utf-8")
    monkeypatch.setenv("VIDGATE_HOME", str(home))
    code, stdout, stderr = run(*command)
    assert code == 3 and stdout == ""
    assert stderr.strip().splitlines() == [
        f"error[configuration]: VIDGATE_HOME ({home}) is not a directory: set VIDGATE_HOME to "
        "a directory vidgate may write to"
    ]
    monkeypatch.setenv("VIDGATE_HOME", str(home / "below"))
    code, _, stderr = run(*command)
    assert code == 3 and f"cannot be made under {home}" in stderr


# -- exit codes: one table, README "Exit codes" ----------------------------------------------


def test_exit_codes_follow_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2: bad input
    assert run("generate", "a fox", "--duration", "0.7")[0] == 2
    # 3: configuration — a missing key, like an unreachable database or a bad setting
    code, _, stderr = run("generate", "a fox", "--provider", "runway")
    assert code == 3 and "error[missing_credentials]" in stderr and "RUNWAYML_API_SECRET" in stderr
    monkeypatch.setenv("VIDGATE_POLL_INTERVAL", "often")
    code, _, stderr = run("jobs", "list")
    assert code == 3 and "error[configuration]: VIDGATE_POLL_INTERVAL" in stderr
    monkeypatch.delenv("VIDGATE_POLL_INTERVAL")
    # 1: the job failed
    assert run("generate", "[simulate:fail] a fox", *SMALL)[0] == 1


def test_exit_code_maps_the_exception_tree() -> None:
    from vidgate.cli._console import exit_code
    from vidgate.exceptions import (
        ConfigurationError,
        GenerationFailed,
        JobCanceled,
        JobNotFound,
        MissingCredentials,
        UnsupportedRequest,
    )

    assert exit_code(UnsupportedRequest("no")) == 2
    assert exit_code(JobNotFound("job_x")) == 2
    assert exit_code(MissingCredentials("runway", ["RUNWAYML_API_SECRET"])) == 3
    assert exit_code(ConfigurationError("bad catalogue")) == 3
    assert exit_code(GenerationFailed("no", provider="simulated")) == 1
    assert exit_code(JobCanceled("canceled")) == 1
    assert exit_code(KeyboardInterrupt()) == 130
