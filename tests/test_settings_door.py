"""One configuration door: every variable vidgate reads is a typed, described ``Settings`` field,
documented in the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from vidgate.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "vidgate"
#: Names in the source that look like variables but are not (a set of request field names).
NOT_VARIABLES = {"VIDGATE_FIELDS"}


def _variable(name: str) -> str:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else f"VIDGATE_{name.upper()}"


def _readme_table() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, re.MULTILINE))


def test_every_variable_named_in_the_code_is_a_setting() -> None:
    settings = {_variable(name) for name in Settings.model_fields}
    named = {
        match
        for path in SOURCE.rglob("*.py")
        for match in re.findall(r"\bVIDGATE_[A-Z0-9_]+\b", path.read_text(encoding="utf-8"))
    }
    assert named - NOT_VARIABLES - settings == set()


def test_no_vidgate_variable_is_read_from_the_environment_outside_settings() -> None:
    offenders = [
        f"{path.relative_to(SOURCE)}:{number}"
        for path in SOURCE.rglob("*.py")
        if path.name != "settings.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"(os\.environ|getenv).*VIDGATE_|VIDGATE_.*(os\.environ|getenv)", line)
    ]
    assert offenders == []


def test_every_setting_is_described_and_in_the_readme() -> None:
    documented = _readme_table()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert _variable(name) in documented, f"{_variable(name)} is not in the README"
