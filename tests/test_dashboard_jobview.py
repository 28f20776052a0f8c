"""What a job's page shows of its history: the time spent in each phase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vidgate.server.dashboard.jobview import phase_times
from vidgate.types import JobEvent, Phase

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _event(seconds: float, phase: Phase) -> JobEvent:
    return JobEvent(at=T0 + timedelta(seconds=seconds), phase=phase, progress=0, message="")


def test_each_phase_lasts_until_the_next_line_and_repeats_add_up() -> None:
    events = [
        _event(0, Phase.QUEUED),
        _event(1, Phase.ROUTING),
        _event(1.5, Phase.SUBMITTING),
        _event(2, Phase.GENERATING),
        _event(10, Phase.GENERATING),  # a progress line: still generating
        _event(12, Phase.SUBMITTING),  # the fallback's second submission
        _event(12.5, Phase.GENERATING),
        _event(20, Phase.DONE),
    ]
    found = dict(phase_times(events, T0 + timedelta(seconds=99)))
    assert found == pytest.approx(
        {"queued": 1.0, "routing": 0.5, "submitting": 1.0, "generating": 17.5}
    )
    assert [name for name, _ in phase_times(events, T0)] == [
        "queued",
        "routing",
        "submitting",
        "generating",
    ]


def test_a_running_job_counts_its_current_phase_until_now() -> None:
    events = [_event(0, Phase.QUEUED), _event(3, Phase.GENERATING)]
    assert phase_times(events, T0 + timedelta(seconds=10)) == [
        ("queued", 3.0),
        ("generating", 7.0),
    ]
    assert phase_times([], T0) == []
