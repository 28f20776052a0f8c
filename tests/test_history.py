"""A job's history reads in the order things happened, a cancel included."""

from __future__ import annotations

import pytest

from tests.conftest import small_request
from vidgate.engine import Engine
from vidgate.settings import Settings
from vidgate.types import JobStatus, Phase

pytestmark = pytest.mark.usefixtures("backend")

_ORDER = list(Phase)


async def test_after_a_cancel_the_history_ends_with_done(settings: Settings) -> None:
    async with Engine(settings) as engine:
        job = await engine.submit(small_request("[simulate:hang] a fox"))
        async for snapshot in engine.watch(job.id, interval=0.02):
            if snapshot.phase is Phase.GENERATING and snapshot.attempts:
                break
        canceled = await engine.cancel(job.id)
        assert canceled.status is JobStatus.CANCELED
        events = engine.events(job.id)
    phases = [e.phase for e in events]
    assert Phase.GENERATING in phases
    first_done = phases.index(Phase.DONE)
    assert all(p is Phase.DONE for p in phases[first_done:]), phases
    assert any("cancelled task" in e.message for e in events[first_done:])
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert engine.get(job.id).phase is Phase.DONE
