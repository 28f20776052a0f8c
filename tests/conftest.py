"""Shared fixtures: every test gets its own VIDGATE_HOME and no provider keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vidgate.catalog import load_catalog
from vidgate.settings import Settings


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private home, fast timings, and no provider key from the developer's shell."""
    home = tmp_path / "home"
    monkeypatch.setenv("VIDGATE_HOME", str(home))
    monkeypatch.setenv("VIDGATE_SIMULATED_LATENCY", "0.3")
    monkeypatch.setenv("VIDGATE_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("VIDGATE_QUEUE_POLL_INTERVAL", "0.1")
    monkeypatch.delenv("VIDGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_CATALOG_DIR", raising=False)
    for provider in load_catalog().providers.values():
        for var in provider.env_keys:
            monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def settings() -> Settings:
    return Settings()
