"""Shared fixtures: every test gets its own VIDGATE_HOME and no provider keys."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium
from tests.pki import pki
from tests.s3_support import s3_bucket, s3_server
from tests.support import Recorder, recording
from vidgate import requestlog
from vidgate.catalog import load_catalog
from vidgate.settings import Settings
from vidgate.types import VideoRequest

#: The environment as the test run found it, before any test cleared provider keys: live tests
#: (marked ``live``) read real keys from here and skip without them.
LIVE_ENV = dict(os.environ)

#: Fixtures defined elsewhere and shared by every test file.
__all__ = ["chromium", "pki", "s3_bucket", "s3_server"]


def live_key(variable: str) -> str:
    """The real key for a ``live`` test, or skip the test."""
    value = LIVE_ENV.get(variable)
    if not value:
        pytest.skip(f"live test: set {variable} to run it against the real API (it costs money)")
    return value


async def poll_live(provider: Any, remote_id: str, *, every: float, within: float) -> Any:
    """Poll a real provider's task until it ends (live tests only: a real API's own pace)."""
    import asyncio
    import time

    deadline = time.monotonic() + within
    while True:
        status = await provider.poll(remote_id)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"the live task ran past {within:g} s"
        await asyncio.sleep(every)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private home, fast timings, and no provider key from the developer's shell."""
    home = tmp_path / "home"
    monkeypatch.setenv("VIDGATE_HOME", str(home))
    monkeypatch.setenv("VIDGATE_SIMULATED_LATENCY", "0.3")
    monkeypatch.setenv("VIDGATE_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("VIDGATE_QUEUE_POLL_INTERVAL", "0.1")
    # The content scan runs with the cheap marker scanner only (tests/test_safety_scan.py runs
    # the technical checks and the real models where it means to).
    monkeypatch.setenv("VIDGATE_SCANNERS", "marker")
    # Every job makes its delivery set; here the cheap part only (the original kept, the
    # browser-safe MP4): tests/test_delivery_engine.py runs the default profile.
    monkeypatch.setenv(
        "VIDGATE_DELIVERY_PROFILE",
        '{"tiers": [], "hls": false, "poster": false, "sprite": false, "preview": false}',
    )
    monkeypatch.delenv("VIDGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIDGATE_CATALOG_DIR", raising=False)
    for provider in load_catalog().providers.values():
        for var in provider.env_keys:
            monkeypatch.delenv(var, raising=False)
        for model in provider.models:
            for var in model.wire.get("env_keys", []):
                monkeypatch.delenv(var, raising=False)
    for var in ("VIDGATE_SIMULATOR_URL", "VIDGATE_ALLOW_RETIRED", "VIDGATE_PUBLIC_URL"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def settings() -> Settings:
    return Settings()


def small_request(prompt: str = "a red fox in snow", **fields: Any) -> VideoRequest:
    """A request that renders in a blink: 1 s at 360p."""
    values: dict[str, Any] = {
        "prompt": prompt,
        "duration": 1,
        "resolution": "360p",
        "aspect_ratio": "16:9",
    }
    values.update(fields)
    return VideoRequest.model_validate(values)


#: Where the PostgreSQL variants of the engine tests run (``.ci/postgres`` prints one).
POSTGRES_URL = os.environ.get("VIDGATE_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test on SQLite and again on PostgreSQL (a fresh database each time)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL variant: set VIDGATE_TEST_POSTGRES_URL (bash .ci/postgres)")
    import psycopg

    name = f"vidgate_test_{secrets.token_hex(5)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    monkeypatch.setenv("VIDGATE_DATABASE_URL", f"{base}/{name}")
    yield "postgres"
    _drop_database(name)


def _drop_database(name: str) -> None:
    """Drop a test database. FORCE ends its sessions, but not one another role holds (a
    superuser's psql, a bench run as postgres): such a database is left behind, said on stderr,
    instead of failing the test that used it."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.errors.InsufficientPrivilege as exc:
        print(f"test database {name} left behind: {exc}", file=sys.stderr)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[object]:
    """The provider simulator on a real loopback port (0.5 s generations)."""
    from vidgate.simulator.server import simulator_in_thread
    from vidgate.simulator.state import SimulatorConfig

    config = SimulatorConfig(latency=0.5, media_dir=tmp_path / "simulator-media")
    with simulator_in_thread(config) as running:
        yield running


@pytest.fixture
def calls() -> Iterator[list[requestlog.CallRecord]]:
    """Every call the adapters make, as the request log records it."""
    seen: list[requestlog.CallRecord] = []
    requestlog.set_sink(seen.append)
    yield seen
    requestlog.set_sink(None)


@pytest.fixture
def recorders() -> Iterator[Callable[..., Recorder]]:
    """Start loopback ``Recorder`` servers on demand (``recorders(routes={...})``); all are
    stopped after the test."""
    with contextlib.ExitStack() as stack:

        def make(recorder: Recorder | None = None, **fields: Any) -> Recorder:
            return stack.enter_context(recording(recorder or Recorder(**fields)))

        yield make


@pytest.fixture
def receiver(recorders: Callable[..., Recorder]) -> Recorder:
    """A webhook receiver on a loopback port: records every delivery and answers 200."""
    return recorders()


# -- ending the run ----------------------------------------------------------------------------

_EXIT_STATUS: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process even if a stray thread would keep it alive.

    DBOS shuts its step executor down without waiting; a step whose checkpoint write is still
    in flight when a test ends retries that write for ever (with backoff) once the test's
    PostgreSQL database has been dropped, and Python's exit waits for that thread. The run's
    results are reported by now, so such threads are named on stderr and the process exits
    with pytest's own status instead of hanging CI."""
    import sys
    import threading

    stray = [
        t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    if not stray or not _EXIT_STATUS:
        return
    print(f"\nexiting past {len(stray)} stray thread(s): {', '.join(stray)}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS[-1])
