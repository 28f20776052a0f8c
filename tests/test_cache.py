"""The result cache (issue 11 §6): identical requests served from the stored video at no
cost, through the real engine on SQLite and PostgreSQL with the simulated provider."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.budget_support import ledger_rows
from tests.conftest import small_request
from tests.support import run_job
from vidgate._clock import utcnow
from vidgate.caching.similar import load_embedder
from vidgate.engine import Engine
from vidgate.media.probe import probe
from vidgate.providers.simulated import created
from vidgate.settings import Settings
from vidgate.types import Job, JobStatus, Phase

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with Engine(settings) as running:
        yield running


def creates(settings: Settings) -> int:
    """How many tasks the simulated provider was asked to create."""
    return len(created(settings.resolved_home))


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def original(engine: Engine, **fields: object) -> Job:
    done = await run_job(engine, small_request(**fields))  # type: ignore[arg-type]
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.cached is None
    return done


async def test_an_identical_request_with_a_seed_is_served_from_the_stored_video(
    engine: Engine, settings: Settings
) -> None:
    first = await original(engine, seed=7)
    assert creates(settings) == 1

    job = await engine.submit(small_request(seed=7))

    # Completed at admission: no task at the provider, no attempt, no workflow to wait for.
    assert job.status is JobStatus.COMPLETED and job.phase is Phase.DONE and job.progress == 100
    assert creates(settings) == 1
    assert job.attempts == []
    assert job.cached is not None and job.cached.job_id == first.id
    assert job.cached.match == "exact" and job.cached.prompt == first.request.prompt
    assert (job.provider, job.model) == ("simulated", "synth-1")
    assert job.cost_usd == 0.0
    assert job.quote is not None and job.quote.usd == 0.0 and "cached" in job.quote.basis
    # Its own copy of the same content, playable.
    assert job.output is not None and first.output is not None
    assert job.output.key != first.output.key
    assert job.output.sha256 == first.output.sha256 == digest(job.output.uri)
    assert probe(Path(job.output.uri), decode=True).duration == pytest.approx(1.0, abs=0.05)
    assert job.thumbnail is not None and Path(job.thumbnail.uri).is_file()
    # Nothing reserved, settled or released: a cache hit never touches the ledger.
    assert ledger_rows(engine.database, job.id) == []
    assert ledger_rows(engine.database, first.id) != []
    # The history says where it came from.
    assert any(
        f"served from the cache: the video of job {first.id}" in e.message
        for e in engine.events(job.id)
    )
    assert engine.get(job.id).cached == job.cached


async def test_a_different_seed_duration_tenant_or_no_seed_is_a_miss(
    engine: Engine, settings: Settings
) -> None:
    await original(engine, seed=7)
    for request, tenant in (
        (small_request(seed=8), "default"),
        (small_request(seed=7, duration=2), "default"),
        (small_request(seed=7), "acme"),  # never across tenants
        (small_request(), "default"),  # no explicit seed: a model renders anew each time
        (small_request(seed=7, prompt="a blue fox in snow"), "default"),
    ):
        job = await engine.submit(request, tenant=tenant)
        assert job.cached is None and not job.done
        done = await engine.wait(job.id, interval=0.02)
        assert done.status is JobStatus.COMPLETED and done.cached is None
    assert creates(settings) == 6


async def test_cache_false_bypasses_it(engine: Engine, settings: Settings) -> None:
    await original(engine, seed=7)
    job = await engine.submit(small_request(seed=7, cache=False))
    assert job.cached is None and not job.done
    assert (await engine.wait(job.id, interval=0.02)).cached is None
    assert creates(settings) == 2


async def test_a_result_older_than_the_ttl_is_not_served(
    engine: Engine, settings: Settings
) -> None:
    await original(engine, seed=7)
    later = utcnow() + timedelta(seconds=settings.cache_ttl + 1)
    engine.cache.clock = lambda: later
    job = await engine.submit(small_request(seed=7))
    assert job.cached is None and not job.done
    await engine.wait(job.id, interval=0.02)
    engine.cache.clock = lambda: later - timedelta(seconds=2)  # just inside the TTL
    assert (await engine.submit(small_request(seed=7))).cached is not None


async def test_deleting_the_original_leaves_the_cached_copy_playable(
    engine: Engine, settings: Settings
) -> None:
    first = await original(engine, seed=7)
    job = await engine.submit(small_request(seed=7))
    assert job.cached is not None and job.output is not None
    await engine.delete(first.id)
    assert first.output is not None and not Path(first.output.uri).exists()
    kept = engine.get(job.id)
    assert kept.output is not None
    assert probe(Path(kept.output.uri), decode=True).video_codec == "h264"
    # A deleted video is never handed out again: the next identical request generates.
    again = await engine.submit(small_request(seed=7))
    assert again.cached is None and not again.done
    await engine.wait(again.id, interval=0.02)


async def test_the_cache_can_be_switched_off(settings: Settings, backend: str) -> None:
    async with Engine(settings.model_copy(update={"cache": False})) as engine:
        await original(engine, seed=7)
        job = await engine.submit(small_request(seed=7))
        assert job.cached is None and not job.done
        await engine.wait(job.id, interval=0.02)
    assert creates(settings) == 2


needs_embeddings = pytest.mark.skipif(
    load_embedder() is None, reason="the embeddings extra is not installed"
)


@needs_embeddings
async def test_similar_reuses_a_near_identical_prompt_and_says_which(
    engine: Engine, settings: Settings
) -> None:
    first = await original(engine, prompt="a red fox running through fresh snow at dawn", seed=3)
    job = await engine.submit(
        small_request("a red fox runs through fresh snow at dawn", seed=3, cache="similar")
    )
    assert job.done and job.cached is not None
    assert job.cached.match == "similar" and job.cached.job_id == first.id
    assert job.cached.prompt == "a red fox running through fresh snow at dawn"
    assert job.cached.similarity is not None and 0.95 <= job.cached.similarity < 1
    assert creates(settings) == 1
    # Without the opt-in the same request generates: its prompt differs.
    plain = await engine.submit(small_request("a red fox runs through fresh snow at dawn", seed=3))
    assert plain.cached is None
    await engine.wait(plain.id, interval=0.02)


@needs_embeddings
async def test_similar_misses_an_unrelated_prompt_and_other_parameters(
    engine: Engine, settings: Settings
) -> None:
    await original(engine, prompt="a red fox running through fresh snow at dawn", seed=3)
    for request in (
        small_request("a quarterly financial report on an office desk", seed=3, cache="similar"),
        small_request("a red fox runs through fresh snow at dawn", seed=4, cache="similar"),
        small_request(
            "a red fox runs through fresh snow at dawn", seed=3, duration=2, cache="similar"
        ),
    ):
        job = await engine.submit(request)
        assert job.cached is None and not job.done
        await engine.wait(job.id, interval=0.02)
    assert creates(settings) == 4


async def test_a_model_not_marked_deterministic_is_never_served_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same simulated models, from an operator's catalogue file that does not mark them
    deterministic_seed: an identical request with a seed generates again."""
    from vidgate.catalog import loader

    builtin = loader.DATA_DIR / "simulated.toml"
    folder = tmp_path / "catalog"
    folder.mkdir()
    text = builtin.read_text(encoding="utf-8")
    assert "deterministic_seed = true" in text
    (folder / "simulated.toml").write_text(
        text.replace("deterministic_seed = true", "deterministic_seed = false"), encoding="utf-8"
    )
    monkeypatch.setenv("VIDGATE_CATALOG_DIR", str(folder))
    settings = Settings()
    async with Engine(settings) as engine:
        assert not engine.catalog.get("simulated:synth-1").deterministic_seed
        await original(engine, seed=7)
        job = await engine.submit(small_request(seed=7))
        assert job.cached is None and not job.done
        await engine.wait(job.id, interval=0.02)
    assert creates(settings) == 2
