"""Batched polls (issue 10, "cheap waiting"): one poller per provider polls every task a process
waits on in rounds — a few pages of the provider's list endpoint where it has one (Replicate,
Luma Dream Machine, OpenAI), else bounded single polls — and wakes a waiting step only when its
task changed. Real adapters against the simulator's twins on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import make_submission, until
from tests.support_openai import KEY as OPENAI_KEY
from tests.support_openai import submission as openai_submission
from tests.support_replicate import KEY as REPLICATE_KEY
from tests.support_replicate import submission as replicate_submission
from vidgate import requestlog
from vidgate.engine import Engine
from vidgate.engine.poller import Pollers, Watch
from vidgate.engine.retry import RetryPolicy
from vidgate.exceptions import VidgateError
from vidgate.providers import luma as luma_module
from vidgate.providers import openai as openai_module
from vidgate.providers import replicate as replicate_module
from vidgate.providers.base import Provider, Submission, TaskState, TaskStatus
from vidgate.providers.luma import LumaProvider
from vidgate.providers.openai import OpenAIProvider
from vidgate.providers.replicate import ReplicateProvider
from vidgate.providers.runway import RunwayProvider
from vidgate.settings import Settings
from vidgate.simulator import replicate as replicate_twin
from vidgate.simulator.server import RunningSimulator, simulator_in_thread
from vidgate.simulator.state import SimTask, SimulatorConfig
from vidgate.types import JobStatus, VideoRequest

RUNWAY_KEY = "rw-test-secret-0123456789"


@dataclass(frozen=True)
class Twin:
    """One provider's adapter on its simulator twin."""

    name: str
    provider: type[Provider]
    env: Callable[[str], dict[str, str]]
    submission: Callable[[int], Submission]
    task_id: Callable[[str], str]
    listing: bool


TWINS = {
    "replicate": Twin(
        "replicate",
        ReplicateProvider,
        lambda url: {
            "VIDGATE_REPLICATE_BASE_URL": url + "/replicate",
            "REPLICATE_API_TOKEN": REPLICATE_KEY,
        },
        lambda i: replicate_submission(f"a red fox number {i}", reference=f"ref-{i}"),
        lambda remote_id: remote_id,
        True,
    ),
    "luma": Twin(
        "luma",
        LumaProvider,
        lambda url: {
            "VIDGATE_LUMA_BASE_URL": url + "/luma/dream-machine/v1",
            "LUMAAI_API_KEY": "test-luma-key",
        },
        lambda i: make_submission(
            "luma:ray-flash-2", f"ref-{i}", prompt=f"a red fox number {i}", duration=5
        ),
        lambda remote_id: remote_id.split(":", 1)[1],
        True,
    ),
    "openai": Twin(
        "openai",
        OpenAIProvider,
        lambda url: {"VIDGATE_OPENAI_BASE_URL": url + "/openai/v1", "OPENAI_API_KEY": OPENAI_KEY},
        lambda i: openai_submission(f"a paper boat number {i}", reference=f"att_{i}-1"),
        lambda remote_id: remote_id,
        True,
    ),
    "runway": Twin(
        "runway",
        RunwayProvider,
        lambda url: {"VIDGATE_RUNWAY_BASE_URL": url + "/runway", "RUNWAYML_API_SECRET": RUNWAY_KEY},
        lambda i: make_submission(
            "runway:gen4.5", f"ref-{i}", prompt=f"a red fox number {i}", duration=2
        ),
        lambda remote_id: remote_id,
        False,
    ),
}


def sim_with(tmp_path: Path, latency: float) -> Iterator[RunningSimulator]:
    config = SimulatorConfig(
        latency=latency, media_dir=tmp_path / "simulator-media", generic_renders=True
    )
    with simulator_in_thread(config) as running:
        yield running


@pytest.fixture
def slow_sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    """Tasks of 1.5 s: long enough for many polls at the tests' intervals."""
    yield from sim_with(tmp_path, 1.5)


@pytest.fixture
def long_sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    """Tasks of a minute: they stay unfinished for the whole test."""
    yield from sim_with(tmp_path, 60.0)


@pytest.fixture
def gets() -> Callable[[RunningSimulator, str], int]:
    def count(sim: RunningSimulator, prefix: str) -> int:
        return sum(n for key, n in sim.state.requests.items() if key.startswith(f"GET /{prefix} "))

    return count


async def adapter(twin: Twin, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Provider:
    for variable, value in twin.env(sim.url).items():
        monkeypatch.setenv(variable, value)
    provider = twin.provider(Settings())
    if isinstance(provider, ReplicateProvider):
        provider.prefer_wait = 0  # the create answers at once, as without ``Prefer: wait``
    return provider


def sim_task(twin: Twin, sim: RunningSimulator, remote_id: str) -> SimTask:
    return sim.state.tasks[twin.task_id(remote_id)]


# -- the list endpoints: pages as documented, and the rest polled one by one ---------------------


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pages of 2 (the twins page as documented, with the size each adapter asks for; the
    Replicate twin's fixed page is 100, as Replicate's) and at most 2 pages a round."""
    monkeypatch.setattr(replicate_twin, "PAGE_SIZE", 2)
    monkeypatch.setattr(luma_module, "_LOOKUP_PAGE", 2)
    monkeypatch.setattr(openai_module, "_LOOKUP_PAGE_SIZE", 2)
    for module in (replicate_module, luma_module, openai_module):
        name = "POLL_PAGES" if module is replicate_module else "_POLL_PAGES"
        monkeypatch.setattr(module, name, 2)
    return 2


@pytest.mark.parametrize("name", ["replicate", "luma", "openai"])
async def test_poll_many_reads_the_pages_newest_first_and_polls_the_older_tasks_alone(
    name: str,
    long_sim: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    small_pages: int,
) -> None:
    twin = TWINS[name]
    provider = await adapter(twin, long_sim, monkeypatch)
    try:
        ids = [(await provider.submit(twin.submission(i))).remote_id for i in range(5)]
        for offset, remote_id in enumerate(ids):  # creation order, oldest first
            sim_task(twin, long_sim, remote_id).created_at -= 10 - offset
        with requestlog.collect() as calls:
            answers = await provider.poll_many(ids)
    finally:
        await provider.aclose()
    assert set(answers) == set(ids)
    assert all(isinstance(a, TaskStatus) and not a.state.terminal for a in answers.values())
    listings = [c for c in calls if c.task is None]
    singles = [c for c in calls if c.task is not None]
    # Two pages of two (the four newest), then the oldest task on its own.
    assert len(listings) == small_pages and not any(c.failed for c in calls)
    assert [c.task for c in singles] == ids[:1]
    assert all(provider.lists(r) for r in ids)


@pytest.mark.parametrize("name", ["replicate", "luma", "openai"])
async def test_poll_many_stops_reading_pages_once_every_task_asked_was_seen(
    name: str, long_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, small_pages: int
) -> None:
    twin = TWINS[name]
    provider = await adapter(twin, long_sim, monkeypatch)
    try:
        ids = [(await provider.submit(twin.submission(i))).remote_id for i in range(5)]
        for offset, remote_id in enumerate(ids):
            sim_task(twin, long_sim, remote_id).created_at -= 10 - offset
        newest = ids[-1]
        with requestlog.collect() as calls:
            answers = await provider.poll_many([newest], also=ids[:-1])
    finally:
        await provider.aclose()
    # One page answered the task asked for, and the other task on it for free.
    assert len(calls) == 1 and calls[0].task is None
    assert set(answers) == {newest, ids[-2]}


async def test_replicate_reads_a_finished_prediction_on_its_own(
    long_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = TWINS["replicate"]
    provider = await adapter(twin, long_sim, monkeypatch)
    try:
        ids = [(await provider.submit(twin.submission(i))).remote_id for i in range(3)]
        sim_task(twin, long_sim, ids[0]).created_at -= 120  # done
        with requestlog.collect() as calls:
            answers = await provider.poll_many(ids)
    finally:
        await provider.aclose()
    done = answers[ids[0]]
    assert isinstance(done, TaskStatus) and done.state is TaskState.SUCCEEDED and done.outputs
    assert [c.task for c in calls] == [None, ids[0]]  # the page, then the finished one in full


async def test_the_default_polls_each_task_with_a_bound(
    long_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = TWINS["runway"]
    provider = await adapter(twin, long_sim, monkeypatch)
    provider.settings.poll_concurrency = 2
    try:
        ids = [(await provider.submit(twin.submission(i))).remote_id for i in range(4)]
        answers = await provider.poll_many([*ids, "00000000-0000-0000-0000-000000000000"])
    finally:
        await provider.aclose()
    assert all(isinstance(answers[r], TaskStatus) for r in ids)
    missing = answers["00000000-0000-0000-0000-000000000000"]
    assert isinstance(missing, VidgateError)  # one task's error, the others answered


# -- the poller: rounds, wake-ups on changes only, and how soon a finished task is noticed -------


@dataclass
class Seen:
    watch: Watch
    since: float
    done_at: float | None = None
    wakes: int = 0


@pytest.mark.parametrize("name", ["replicate", "luma", "openai", "runway"])
async def test_a_finished_task_is_noticed_within_about_one_base_interval(
    name: str, slow_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = 0.25
    settings = Settings(poll_interval=base, poll_max_interval=10.0)
    twin = TWINS[name]
    provider = await adapter(twin, slow_sim, monkeypatch)
    seen: dict[str, Seen] = {}
    all_done = asyncio.Event()

    def wake(workflow_id: str, reason: str) -> None:
        entry = seen[workflow_id]
        entry.wakes += 1
        taken = entry.watch.take()
        assert isinstance(taken, TaskStatus), taken
        if taken.state.terminal and entry.done_at is None:
            entry.done_at = time.time()
            if all(s.done_at is not None for s in seen.values()):
                all_done.set()

    pollers = Pollers(settings, wake, lambda p: RetryPolicy.for_provider(p, {}))
    try:
        for i in range(6):
            remote_id = (await provider.submit(twin.submission(i))).remote_id
            watch = pollers.watch(
                provider,
                remote_id,
                workflow_id=remote_id,
                job_id=f"job-{i}",
                attempt_id=f"job-{i}-1",
                interval=base,
            )
            seen[remote_id] = Seen(watch, since=time.time())
        await asyncio.wait_for(all_done.wait(), 30)
    finally:
        await pollers.aclose()
        await provider.aclose()
    for remote_id, entry in seen.items():
        task = sim_task(twin, slow_sim, remote_id)
        assert entry.done_at is not None
        lag = entry.done_at - max(task.created_at + task.latency, entry.since)
        # One base interval, plus the calls themselves on a busy machine.
        assert lag <= base + 0.75, f"{name} task noticed {lag:.2f} s after it finished"
        # Woken for changes only: queued, running (and its progress), done — not per poll.
        assert entry.wakes <= 13
    if twin.listing:
        # A round is a page for every task (and, for Replicate, one read of each finished one).
        polls = max(1, pollers.rounds)
        assert pollers.calls <= polls * 1 + (len(seen) if name == "replicate" else 0)


# -- through the engine: far fewer calls than one per task per poll; none logged unchanged ------


@pytest.fixture
async def replicate_engine(
    slow_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[Engine]:
    for variable, value in TWINS["replicate"].env(slow_sim.url).items():
        monkeypatch.setenv(variable, value)
    settings.poll_interval = 0.1
    async with Engine(settings) as running:
        yield running


async def test_a_batch_of_jobs_costs_list_pages_not_a_poll_per_task(
    replicate_engine: Engine, slow_sim: RunningSimulator, gets: Callable[..., int]
) -> None:
    engine, jobs = replicate_engine, 8
    request = VideoRequest(
        prompt="a red fox", duration=2, resolution="480p", providers=("replicate",)
    )
    submitted = [await engine.submit(request.model_copy(update={"seed": i})) for i in range(jobs)]
    done = [await asyncio.wait_for(engine.wait(job.id, interval=0.05), 90) for job in submitted]
    assert all(job.status is JobStatus.COMPLETED for job in done), [j.error for j in done]
    pollers = engine.runtime.pollers
    status_gets = gets(slow_sim, "replicate")
    # Polled one by one every 0.1 s, each 1.5 s task would cost about 15 reads: 120 in all.
    # Batched: a page a round for all of them, and one read of each finished prediction.
    assert status_gets <= pollers.rounds + jobs, (status_gets, pollers.rounds)
    assert status_gets < jobs * 15 / 3, status_gets
    # The request log keeps the calls that showed a change (state, or a tenth of progress),
    # not one per poll.
    for job in done:
        reads = [
            c for c in engine.calls(job.id) if c.method == "GET" and "/v1/predictions" in c.url
        ]
        assert 1 <= len(reads) <= 13, [c.url for c in reads]


# -- the request log: the calls that showed a change, and failures; nothing per unchanged poll ----


def test_collected_calls_are_written_only_when_asked(
    calls: list[requestlog.CallRecord],
) -> None:
    with requestlog.bind("job-1", "att-1"), requestlog.collect() as kept:
        with requestlog.about("task-1"):
            requestlog.record("p", "GET", "http://h/x?sig=s3cret", status_code=200, latency_ms=1)
        requestlog.record("p", "GET", "http://h/list", status_code=503, latency_ms=1)
    assert calls == [], "nothing is written while collecting"
    assert [c.task for c in kept] == ["task-1", None]
    assert [c.failed for c in kept] == [False, True]
    requestlog.write(kept[0], "job-2", "att-2")
    assert (calls[0].job_id, calls[0].attempt_id, calls[0].url) == ("job-2", "att-2", "http://h/x")


async def test_unchanged_polls_write_no_request_log_row(
    long_sim: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    calls: list[requestlog.CallRecord],
) -> None:
    twin = TWINS["replicate"]
    provider = await adapter(twin, long_sim, monkeypatch)
    settings = Settings(poll_interval=0.1)
    woken: list[str] = []
    pollers = Pollers(
        settings, lambda wf, _: woken.append(wf), lambda p: RetryPolicy.for_provider(p, {})
    )
    try:
        ids = [(await provider.submit(twin.submission(i))).remote_id for i in range(3)]
        calls.clear()  # the creates
        for i, remote_id in enumerate(ids):
            pollers.watch(
                provider,
                remote_id,
                workflow_id=f"job-{i}-1",
                job_id=f"job-{i}",
                attempt_id=f"job-{i}-1",
                interval=0.1,
            )

        async def rounds() -> bool:
            return pollers.rounds >= 6

        await until(rounds, 30, what="six poll rounds")
    finally:
        await pollers.aclose()
        await provider.aclose()
    # The tasks stay "starting" for the whole test: the first round showed each one's state
    # (one row per job: the page that showed it), no later round wrote anything.
    assert sorted(woken) == ["job-0-1", "job-1-1", "job-2-1"]
    assert sorted(c.job_id or "" for c in calls) == ["job-0", "job-1", "job-2"]
    assert all(c.url.endswith("/v1/predictions") for c in calls)
    assert pollers.calls >= 6
