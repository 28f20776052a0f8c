"""Secrets every process of a deployment shares: made once, stored in the database.

A Luma callback URL minted by the worker that submitted the task must verify in the gateway
that receives it, and a content URL signed by one gateway host must verify on another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidgate.db import make_engine, upgrade
from vidgate.exceptions import ProviderAuthError
from vidgate.providers.luma import LumaProvider, callback_token, verify_callback_token
from vidgate.settings import Settings

#: One separate process: its keys, and a Luma callback URL it minted for ``job_x-1``.
_PROCESS = """
import json, sys
from vidgate.providers.luma import LumaProvider
from vidgate.settings import Settings
settings = Settings()
luma = LumaProvider(settings)
print(json.dumps({
    "webhook": settings.webhook_key().hex(),
    "signing": settings.signing_key().hex(),
    "url": luma._callback_url("https://gw.example/webhooks/luma", "job_x-1"),
}))
"""


def _processes(count: int) -> list[dict[str, str]]:
    """Start ``count`` processes at once (a cold deployment: none finds a secret yet). The
    schema is made first: concurrent first migrations are another matter than the secrets."""
    settings = Settings()
    settings.ensure_dirs()
    upgrade(make_engine(settings.resolved_database_url))
    running = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS], stdout=subprocess.PIPE, env=dict(os.environ)
        )
        for _ in range(count)
    ]
    answers = []
    for process in running:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        answers.append(json.loads(out))
    return answers


def test_processes_on_one_database_agree_on_every_secret(backend: str) -> None:
    first, *others = _processes(3)
    assert all(answer == first for answer in others)
    # And a runtime in this process, started later, finds the same ones.
    settings = Settings()
    assert settings.webhook_key().hex() == first["webhook"]
    assert settings.signing_key().hex() == first["signing"]


def test_a_callback_minted_by_a_worker_verifies_in_the_gateway(backend: str) -> None:
    [worker] = _processes(1)
    token = worker["url"].rsplit("/", 1)[1]
    gateway = LumaProvider(Settings())
    body = json.dumps({"id": "gen-1", "state": "completed", "assets": {"video": "https://x/v"}})
    event = gateway.parse_webhook({}, body.encode(), url_token=token)
    assert event.remote_id == "dm:gen-1"
    assert verify_callback_token(token) == "job_x-1"


def test_another_database_does_not_verify_it(tmp_path: Path) -> None:
    token = callback_token("job_x-1")
    other = Settings(home=tmp_path / "elsewhere")
    with pytest.raises(ProviderAuthError):
        verify_callback_token(token, other.webhook_key())
    assert other.signing_key() != Settings().signing_key()


def test_the_configured_secrets_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_WEBHOOK_SECRET", "shared-1")
    monkeypatch.setenv("VIDGATE_SIGNING_SECRET", "signing-1")
    settings = Settings()
    assert settings.webhook_key() == b"shared-1" and settings.signing_key() == b"signing-1"
    [process] = _processes(1)
    assert bytes.fromhex(process["webhook"]) == b"shared-1"
    assert verify_callback_token(process["url"].rsplit("/", 1)[1]) == "job_x-1"


def test_the_key_file_of_an_earlier_version_seeds_the_signing_key() -> None:
    settings = Settings()
    settings.ensure_dirs()
    (settings.resolved_home / "signing.key").write_text("f" * 64 + "\n", encoding="ascii")
    assert settings.signing_key() == b"f" * 64
