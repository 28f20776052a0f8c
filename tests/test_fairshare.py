"""Fair share between tenants: the job queue and the limited provider queues are partitioned by
tenant, a job shows when it waits for a provider's limit, and entries queued before partitions
existed still run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import small_request
from tests.support import until
from vidgate.engine import Engine
from vidgate.engine.fairshare import (
    DEFAULT_PARTITION,
    adopt_legacy,
    job_queue_limits,
    partition_key,
    provider_queue_limits,
    share_of,
    workflow_status,
)
from vidgate.engine.runtime import JOB_QUEUE
from vidgate.exceptions import InvalidRequest
from vidgate.server.schemas import video_object
from vidgate.settings import Settings
from vidgate.types import Job, JobStatus, Phase

small = small_request

#: One tenant's burst, and the single job of another tenant that must not wait for it.
BURST = 30


# -- the partition key and the queue limits --------------------------------------------------


def test_every_entry_gets_a_valid_partition_key() -> None:
    assert partition_key(None) == partition_key("") == DEFAULT_PARTITION == "default"
    assert partition_key("acme-prod.eu_1") == "acme-prod.eu_1"
    assert partition_key("x" * 128) == "x" * 128
    for bad in (" acme", "acme ", "a\x00b", "a\nb", "x" * 129):
        with pytest.raises(InvalidRequest):
            partition_key(bad)


def test_a_tenants_share_of_a_limit() -> None:
    assert [share_of(n, 0.5) for n in (1, 2, 3, 4, 1000)] == [1, 1, 1, 2, 500]
    assert [share_of(n, 1.0) for n in (1, 4)] == [1, 4]
    settings = Settings(worker_concurrency=10, tenant_job_share=0.8)
    assert job_queue_limits(settings) | {"polling_interval_sec": 0} == {
        "worker_concurrency": 10,
        "partition_worker_concurrency": 8,
        "polling_interval_sec": 0,
    }


def test_only_a_provider_with_limits_has_a_partitioned_queue() -> None:
    settings = Settings(
        provider_limits={"runway": {"concurrency": 4, "per_minute": 60}},
        tenant_provider_share=0.75,
    )
    limited = provider_queue_limits(settings, "runway")
    assert limited["global_concurrency"] == 4 and limited["partition_concurrency"] == 3
    assert limited["limiter"] == {"limit": 60, "period": 60.0}
    assert limited["partition_limiter"] == {"limit": 45, "period": 60.0}
    free = provider_queue_limits(settings, "luma")
    assert not any(free[k] for k in ("partition_concurrency", "partition_limiter"))


def test_a_tenant_no_store_could_hold_is_refused_before_anything_is_queued(
    settings: Settings,
) -> None:
    engine = Engine(settings)
    with pytest.raises(InvalidRequest, match="tenant"):
        engine.enqueue(small(), tenant=" spaced ")
    assert engine.list_jobs() == []
    assert _queue_rows(engine) == {}
    asyncio.run(engine.close())


# -- fair share ------------------------------------------------------------------------------

#: The engine tests run on SQLite and again on PostgreSQL.
both_backends = pytest.mark.usefixtures("backend")


def _queue_rows(engine: Engine) -> dict[str, str | None]:
    """Workflow id → partition key of every entry on the job queue."""
    ws = workflow_status(engine.database)
    with engine.database.connect() as conn:
        rows = conn.execute(
            sa.select(ws.c.workflow_uuid, ws.c.queue_partition_key).where(
                ws.c.queue_name == JOB_QUEUE
            )
        ).all()
    return {r[0]: r[1] for r in rows}


def _started(engine: Engine, job: Job) -> datetime | None:
    """When a worker began the job (its route step's history line), if it has."""
    return next((e.at for e in engine.events(job.id) if e.message == "choosing a provider"), None)


async def _wait_all(engine: Engine, jobs: list[Job]) -> list[Job]:
    async def one(job: Job) -> Job:
        return await asyncio.wait_for(engine.wait(job.id, interval=0.05), timeout=300)

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def _until_done(engine: Engine, single: Job, burst: list[Job]) -> list[Job]:
    """Wait for B's job only (A's backlog is not what is measured), then read every job."""
    done = await asyncio.wait_for(engine.wait(single.id, interval=0.05), timeout=300)
    assert done.status is JobStatus.COMPLETED, done.error
    return [engine.get(j.id) for j in burst] + [done]


@both_backends
async def test_a_burst_cannot_fill_every_job_slot_of_a_worker(settings: Settings) -> None:
    """Tenant A queues 30 jobs before tenant B queues one. A worker with 4 job slots gives A
    at most 2 (tenant_job_share 0.5), so B's job is among the first three started: its first
    poll claims A's two and B's one, whatever order DBOS visits the partitions in."""
    settings.worker_concurrency = 4
    settings.tenant_job_share = 0.5
    settings.simulated_latency = 0.2
    api = Engine(settings)
    burst = [api.enqueue(small(f"a {i}", seed=i), tenant="A") for i in range(BURST)]
    single = api.enqueue(small("b"), tenant="B")
    await api.close()
    rows = _queue_rows(api)
    assert {rows[j.id] for j in burst} == {"A"} and rows[single.id] == "B"
    async with Engine(settings, worker=True) as worker:
        jobs = await _until_done(worker, single, burst)
        started = {j.id: at for j in jobs if (at := _started(worker, j)) is not None}
    order = sorted(started, key=started.__getitem__)
    rank = order.index(single.id)
    assert rank < 3, f"B's job started {rank + 1}th (of {len(order)} started)"


@both_backends
async def test_a_burst_cannot_hold_every_slot_at_a_limited_provider(settings: Settings) -> None:
    """Two slots at the provider, one tenant may hold one (tenant_provider_share 0.5): tenant
    B's attempt starts at the first queue poll after it is queued, so at most two of A's 30
    attempts can start between B queuing and B starting (one claimed in that same poll, one
    claimed just before B was queued but not yet submitted)."""
    settings.provider_limits = {"simulated": {"concurrency": 2}}
    settings.tenant_provider_share = 0.5
    settings.simulated_latency = 0.2
    async with Engine(settings) as engine:
        burst = [await engine.submit(small(f"a {i}", seed=i), tenant="A") for i in range(BURST)]
        single = await engine.submit(small("b"), tenant="B")
        jobs = await _until_done(engine, single, burst)
        ws = workflow_status(engine.database)
        with engine.database.connect() as conn:
            queued_ms = conn.execute(
                sa.select(ws.c.created_at).where(ws.c.workflow_uuid == f"{single.id}-1")
            ).scalar_one()
    far = datetime.max.replace(tzinfo=UTC)
    spans = [
        (a.submitted_at, a.finished_at or far, j.tenant)
        for j in jobs
        for a in j.attempts
        if a.submitted_at is not None
    ]
    b_start = next(s for s, _, t in spans if t == "B")
    between = [
        s
        for s, _, t in spans
        if t == "A" and queued_ms / 1000 < s.timestamp() < b_start.timestamp()
    ]
    assert len(between) <= 2, f"{len(between)} of A's attempts started while B's waited"
    # The provider's limit held throughout: never more than one of A's at once, two in all.
    for start, _, _ in spans:
        live = [t for s, f, t in spans if s <= start < f]
        assert len(live) <= 2 and live.count("A") <= 1, live


# -- "queued for the provider's limit" on the job --------------------------------------------


@both_backends
async def test_a_job_says_when_it_waits_for_a_providers_limit(settings: Settings) -> None:
    settings.provider_limits = {"simulated": {"concurrency": 1}}
    async with Engine(settings) as engine:
        blocker = await engine.submit(small("[simulate:hang] a mole"))
        await until(
            lambda: _has_remote(engine, blocker.id),
            timeout=120,
            what="the blocker reaching the provider",
        )
        waiting = await engine.submit(small("a fox"), tenant="acme")
        seen = await until(
            lambda: _in_phase(engine, waiting.id, Phase.PROVIDER_LIMIT),
            timeout=120,
            what="the job showing its wait",
        )
        assert seen.status is JobStatus.IN_PROGRESS and seen.attempts == []
        assert video_object(seen)["phase"] == "provider_limit"
        await engine.cancel(blocker.id)
        done = await asyncio.wait_for(engine.wait(waiting.id, interval=0.02), timeout=300)
    assert done.status is JobStatus.COMPLETED, done.error
    history = [(e.phase, e.message) for e in engine.events(waiting.id)]
    line = (Phase.PROVIDER_LIMIT, "queued for simulated's limit (1 at once)")
    assert history.count(line) == 1, history
    after = history[history.index(line) + 1 :]
    assert after[0][0] is Phase.SUBMITTING, "the wait ends when the attempt starts"
    assert Phase.PROVIDER_LIMIT not in {p for p, _ in after}


@both_backends
async def test_a_provider_with_room_shows_no_wait(settings: Settings) -> None:
    settings.provider_limits = {"simulated": {"concurrency": 2}}
    async with Engine(settings) as engine:
        job = await engine.submit(small("a fox"))
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=300)
    assert done.status is JobStatus.COMPLETED, done.error
    assert Phase.PROVIDER_LIMIT not in {e.phase for e in engine.events(job.id)}


async def _has_remote(engine: Engine, job_id: str) -> bool:
    job = engine.get(job_id)
    return bool(job.attempts and job.attempts[0].remote_id)


async def _in_phase(engine: Engine, job_id: str, phase: Phase) -> Job | None:
    job = engine.get(job_id)
    return job if job.phase is phase else None


# -- entries queued before partitions existed ------------------------------------------------


@both_backends
async def test_jobs_queued_before_the_upgrade_are_adopted_and_run(settings: Settings) -> None:
    """An earlier vidgate queued jobs with no partition key; a partitioned queue would keep
    them ENQUEUED for ever. A worker that starts gives them the default partition."""
    api = Engine(settings)
    legacy = [api.enqueue(small(f"old {i}", seed=i), tenant="acme") for i in range(2)]
    ws = workflow_status(api.database)
    with api.database.begin() as conn:
        conn.execute(
            ws.update()
            .where(ws.c.workflow_uuid.in_([j.id for j in legacy]))
            .values(queue_partition_key=None)
        )
    assert set(_queue_rows(api).values()) == {None}
    await api.close()
    async with Engine(settings, worker=True) as worker:
        assert set(_queue_rows(worker).values()) == {DEFAULT_PARTITION}
        done = await _wait_all(worker, legacy)
    assert all(j.status is JobStatus.COMPLETED for j in done), [j.error for j in done]


@both_backends
async def test_adoption_touches_only_vidgates_entries_without_a_key(settings: Settings) -> None:
    """Queued and running entries (a recovery queues a running one again) on the job queue and
    the provider queues get the default key; keyed entries and other queues are left alone."""
    api = Engine(settings)
    _ = api.runtime  # the database made and migrated
    client = api._client()
    for workflow_id, queue in (
        ("old-job", JOB_QUEUE),
        ("old-job-1", "vidgate-provider-simulated"),
        ("new-job-1", "vidgate-provider-simulated"),
        ("theirs", "someone-elses-queue"),
    ):
        client.enqueue(
            {"queue_name": queue, "workflow_name": "vidgate.job", "workflow_id": workflow_id}
        )
    ws = workflow_status(api.database)
    with api.database.begin() as conn:
        conn.execute(
            ws.update().where(ws.c.workflow_uuid == "new-job-1").values(queue_partition_key="acme")
        )
        conn.execute(ws.update().where(ws.c.workflow_uuid == "old-job-1").values(status="PENDING"))
    assert adopt_legacy(api.database) == 2
    assert adopt_legacy(api.database) == 0, "adopting twice changes nothing"
    with api.database.connect() as conn:
        keys = dict(conn.execute(sa.select(ws.c.workflow_uuid, ws.c.queue_partition_key)).all())
    assert keys == {
        "old-job": "default",
        "old-job-1": "default",
        "new-job-1": "acme",
        "theirs": None,
    }
    await api.close()
