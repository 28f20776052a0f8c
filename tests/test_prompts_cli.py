"""Structured prompts and templates through the command line: ``vidgate templates list |
show | render``, ``vidgate generate --template … --var …`` and ``vidgate estimate`` with the
linter's hints; a missing or unknown variable exits 2 naming it. (Apart from the gateway tests:
DBOS runs one engine per process.)"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vidgate.cli import app as cli

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_lists_shows_and_renders_templates() -> None:
    code, listed, _ = run("templates", "list", "--json")
    assert code == 0 and "product-shot" in {t["name"] for t in json.loads(listed)}
    code, shown, _ = run("templates", "show", "product-shot")
    assert code == 0 and "versions: 1, 2" in shown and "required" in shown
    code, rendered, _ = run(
        "templates",
        "render",
        "product-shot@2",
        "--var",
        "product=a mug",
        "--var",
        "reflections=no",
        "--json",
    )
    assert code == 0
    body = json.loads(rendered)
    assert body["template"] == "product-shot@2"
    assert body["prompt"].startswith("A mug on a matte seamless white surface")
    code, _, err = run("templates", "render", "product-shot", "--var", "colour=red")
    assert code == 2 and "template_variable_unknown" in err and "colour" in err
    code, _, err = run("templates", "show", "nope")
    assert code == 2 and "template_not_found" in err


def test_the_cli_generates_from_a_template_and_estimates_with_hints() -> None:
    code, stdout, stderr = run(
        "generate",
        "--template",
        "b-roll",
        "--var",
        "scene=a quiet harbour",
        "--duration",
        "1",
        "--resolution",
        "360p",
        "--json",
    )
    assert code == 0, stderr
    job = json.loads(stdout)
    assert job["status"] == "completed"
    assert job["request"]["template"] == "b-roll@1"
    assert job["request"]["variables"] == {"scene": "a quiet harbour", "time_of_day": "morning"}
    assert job["attempts"][0]["prompt_sent"]["prompt"].startswith("A quiet harbour everyday")
    code, stdout, _ = run("estimate", "a fox", "--camera", "static shot, whip pan", "--json")
    assert code == 0
    report = json.loads(stdout)
    assert [h["code"] for h in report["hints"]] == ["no_lighting", "conflict"]
    assert report["prompt"] == "A fox. Camera: static shot, whip pan."
    code, _, stderr = run("generate", "--template", "b-roll", "--duration", "1")
    assert code == 2 and "template_variable_missing" in stderr and "scene" in stderr


def test_estimate_and_generate_show_hints_to_a_person() -> None:
    code, stdout, _ = run("estimate", "a fox in snow", "--negative", "snow")
    assert code == 0
    assert "hint [no_camera]" in stdout and "hint [no_lighting]" in stdout
    assert "excludes what the prompt asks for: snow" in stdout
    code, _, stderr = run("generate", "a fox", "--duration", "1", "--resolution", "360p")
    assert code == 0 and "hint[no_camera]:" in stderr
