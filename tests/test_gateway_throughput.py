"""What makes the gateway fast (issue 10), and that none of it loosens a limit.

A create is one transaction (tenant checks, job, history line, outbox, DBOS queue entry); a
tenant without a cap or quota is not locked; a verified key is trusted for a few seconds; a
retrieve is one query; SQLite commits without an fsync unless told otherwise. The limits are
checked with bursts from two engines on one database (two processes' worth of connections), on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import small_request
from tests.support import wait_until
from vidgate.db import make_engine
from vidgate.engine import Engine
from vidgate.engine.runtime import JOB_QUEUE
from vidgate.exceptions import (
    AuthenticationFailed,
    ConcurrencyLimitReached,
    DailyQuotaExceeded,
)
from vidgate.server import create_app
from vidgate.server.tenancy import Limits, TenantBook
from vidgate.settings import Settings
from vidgate.types import Job

SMALL = {"duration": 1, "resolution": "360p"}


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` runs inside the block (SQLAlchemy's own event hook)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()).upper())

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@contextmanager
def commits(*engines: sa.Engine) -> Iterator[list[sa.Engine]]:
    """One entry per transaction committed on any of ``engines`` inside the block."""
    seen: list[sa.Engine] = []
    hooks: list[tuple[sa.Engine, Callable[[Any], None]]] = []
    for engine in engines:

        def record(conn: Any, engine: sa.Engine = engine) -> None:
            seen.append(engine)

        sa.event.listen(engine, "commit", record)
        hooks.append((engine, record))
    try:
        yield seen
    finally:
        for engine, hook in hooks:
            sa.event.remove(engine, "commit", hook)


def _create(engine: Engine, book: TenantBook, tenant: str, prompt: str) -> Job:
    """What ``POST /v1/videos`` does after parsing: admit with the tenant's guard."""
    return engine.enqueue(
        small_request(prompt),
        tenant=tenant,
        guard=lambda conn: book.guard_new_job(conn, tenant),
    )


@pytest.fixture
def pair(backend: str) -> Iterator[list[tuple[Engine, TenantBook]]]:
    """Two engines with their own connection pools on one database, as two gateway processes
    would be (enqueue needs no launched DBOS)."""
    engines = [Engine(Settings()), Engine(Settings())]
    try:
        yield [(e, TenantBook(e.database)) for e in engines]
    finally:
        for e in engines:
            if e._dbos_client is not None:
                e._dbos_client.destroy()
            e.runtime.store.engine.dispose()


def _burst(
    pair: list[tuple[Engine, TenantBook]], tenant: str, n: int
) -> tuple[list[Job], list[Exception]]:
    start = threading.Barrier(n)

    def one(i: int) -> Job | Exception:
        engine, book = pair[i % 2]
        start.wait()
        try:
            return _create(engine, book, tenant, f"a moth {i}")
        except (ConcurrencyLimitReached, DailyQuotaExceeded) as refused:
            return refused

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    return (
        [r for r in results if isinstance(r, Job)],
        [r for r in results if isinstance(r, Exception)],
    )


def _queued(engine: Engine) -> set[str]:
    """The workflow ids waiting on the job queue, from DBOS's own table."""
    return {
        w.workflow_id
        for w in engine._client().list_workflows(queue_name=JOB_QUEUE, status="ENQUEUED")
    }


def test_a_burst_from_two_processes_cannot_pass_the_cap_or_the_quota(
    pair: list[tuple[Engine, TenantBook]],
) -> None:
    book = pair[0][1]
    book.ensure_tenant("capped", Limits(max_concurrent=3))
    book.ensure_tenant("daily", Limits(daily_videos=2))
    admitted, refused = _burst(pair, "capped", 12)
    assert len(admitted) == 3 and len(refused) == 9
    assert all(isinstance(r, ConcurrencyLimitReached) for r in refused)
    admitted, refused = _burst(pair, "daily", 10)
    assert len(admitted) == 2 and len(refused) == 8
    assert all(isinstance(r, DailyQuotaExceeded) for r in refused)


def test_an_uncapped_burst_is_admitted_whole_and_every_job_is_queued(
    pair: list[tuple[Engine, TenantBook]],
) -> None:
    pair[0][1].ensure_tenant("free")
    admitted, refused = _burst(pair, "free", 16)
    assert refused == [] and len({j.id for j in admitted}) == 16
    assert {j.id for j in admitted} <= _queued(pair[0][0])


def test_a_create_is_one_commit_and_locks_no_uncapped_tenant(settings: Settings) -> None:
    engine = Engine(settings)
    book = TenantBook(engine.database)
    book.ensure_tenant("free")
    book.ensure_tenant("capped", Limits(max_concurrent=5))
    dbos_engine = engine._client()._sys_db.engine
    with commits(engine.database, dbos_engine) as done, statements(engine.database) as sql:
        job = _create(engine, book, "free", "a kite")
    assert len(done) == 1, "the job, its history, outbox and queue entry: one transaction"
    assert not [s for s in sql if s.startswith("UPDATE TENANTS")], "no lock without a limit"
    assert job.id in _queued(engine)
    assert engine.get(job.id) == job, "the job returned is the job stored"
    with statements(engine.database) as sql:
        _create(engine, book, "capped", "a crane")
    assert [s for s in sql if s.startswith("UPDATE TENANTS")], "a capped tenant is locked"
    engine._client().destroy()


def test_a_refused_create_leaves_no_job_and_no_queue_entry(settings: Settings) -> None:
    engine = Engine(settings)
    book = TenantBook(engine.database)
    book.ensure_tenant("one", Limits(max_concurrent=1))
    kept = _create(engine, book, "one", "a fox")
    with pytest.raises(ConcurrencyLimitReached):
        _create(engine, book, "one", "a hare")
    assert [j.id for j in engine.list_jobs()] == [kept.id]
    assert _queued(engine) == {kept.id}
    engine._client().destroy()


def test_a_retrieve_is_one_query(settings: Settings) -> None:
    engine = Engine(settings)
    job = engine.runtime.store.create_job("job_one_query", small_request())[0]
    with statements(engine.database) as sql:
        again = engine.get(job.id)
    assert len([s for s in sql if s.startswith("SELECT")]) == 1
    assert again == job


# -- verified keys ---------------------------------------------------------------------------


def test_a_verified_key_is_not_read_again_within_the_cache_time(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    _ = Engine(settings).runtime  # migrated
    book = TenantBook(engine, key_cache_seconds=60)
    key = book.create_key("acme").secret
    assert key is not None
    book.verify(key)
    with statements(engine) as sql:
        for _ in range(5):
            assert book.verify(key).tenant == "acme"
    assert sql == []
    # A wrong secret for the same key id is read, and refused, every time.
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationFailed):
        book.verify(forged)
    # Revoked through this book: refused at once.
    assert book.revoke(key)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        book.verify(key)


def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(
    settings: Settings,
) -> None:
    _ = Engine(settings).runtime  # migrated
    here = TenantBook(make_engine(settings.resolved_database_url), key_cache_seconds=0.2)
    elsewhere = TenantBook(make_engine(settings.resolved_database_url))
    key = here.create_key("acme").secret
    assert key is not None
    here.verify(key)
    assert elsewhere.revoke(key)

    def refused() -> bool:
        try:
            here.verify(key)
        except AuthenticationFailed:
            return True
        return False

    wait_until(refused, timeout=5, what="the revoked key being refused")
    uncached = TenantBook(here.engine, key_cache_seconds=0)
    with pytest.raises(AuthenticationFailed):
        uncached.verify(key)


# -- SQLite durability -------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "level"), [(None, 1), ("FULL", 2), ("NORMAL", 1)])
def test_sqlite_commits_without_fsync_unless_told(
    setting: str | None, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting is not None:
        monkeypatch.setenv("VIDGATE_SQLITE_SYNCHRONOUS", setting)
    engine = Engine(Settings())
    with engine.database.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == level


def test_an_unknown_synchronous_level_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("VIDGATE_SQLITE_SYNCHRONOUS", "OFF")
    with pytest.raises(ValidationError):
        Settings()


async def test_through_the_gateway_a_retrieve_with_a_cached_key_is_one_query(
    settings: Settings,
) -> None:
    app = create_app(settings, worker=False)
    key = app.state.gateway.tenants.create_key("acme").secret
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        created = await http.post("/v1/videos", json={"prompt": "a kite", **SMALL})
        assert created.status_code == 200, created.text
        video_id = created.json()["id"]
        with statements(app.state.gateway.engine.database) as sql:
            for _ in range(5):
                answer = await http.get(f"/v1/videos/{video_id}")
                assert answer.status_code == 200 and answer.json()["id"] == video_id
        other = app.state.gateway.tenants.create_key("other").secret
        elsewhere = await http.get(
            f"/v1/videos/{video_id}", headers={"Authorization": f"Bearer {other}"}
        )
    assert len(sql) == 5 and all(s.startswith("SELECT") and "FROM JOBS" in s for s in sql)
    assert elsewhere.status_code == 404, "still scoped to the tenant"
