"""The dashboard's server-drawn charts: bar heights in proportion, stacking, axis and labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vidgate.server.dashboard.charts import PALETTE, _nice, stacked_bars

DAYS = tuple(datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=i) for i in range(4))


def test_bars_stack_in_proportion_to_the_amounts() -> None:
    chart = stacked_bars(
        DAYS, [("runway", (1.0, 0.0, 2.0, 0.0)), ("luma", (1.0, 0.0, 0.0, 0.0))], hourly=False
    )
    assert chart.peak == 2.0
    first_runway = next(b for b in chart.bars if b.label.startswith("01 Dec: runway"))
    first_luma = next(b for b in chart.bars if b.label.startswith("01 Dec: luma"))
    third = next(b for b in chart.bars if b.label.startswith("03 Dec"))
    assert len(chart.bars) == 3  # nothing drawn for an empty amount
    assert first_runway.height == pytest.approx(first_luma.height)
    assert third.height == pytest.approx(first_runway.height + first_luma.height)
    assert first_luma.y + first_luma.height == pytest.approx(first_runway.y)  # stacked
    assert first_runway.y + first_runway.height == pytest.approx(chart.bottom)
    assert [c for c, _ in chart.legend] == list(PALETTE[:2])
    assert [label for _, label in chart.ticks] == ["$0.00", "$1.00", "$2.00"]
    assert [label for _, label in chart.labels] == ["01 Dec", "02 Dec", "03 Dec", "04 Dec"]


def test_an_empty_window_draws_an_axis_and_no_bars() -> None:
    chart = stacked_bars(DAYS, [], hourly=False)
    assert chart.bars == [] and chart.peak == 0.0 and len(chart.ticks) == 3


def test_hour_buckets_are_labelled_by_time_and_thinned() -> None:
    hours = tuple(datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(24))
    chart = stacked_bars(hours, [("x", tuple([0.5] * 24))], hourly=True)
    assert chart.labels[0][1] == "00:00" and len(chart.labels) <= 12


@pytest.mark.parametrize(
    ("peak", "top"),
    [(0.0, 1.0), (0.07, 0.1), (0.3, 0.5), (1.0, 1.0), (3.2, 5.0), (42.0, 50.0), (120.0, 200.0)],
)
def test_the_axis_top_is_a_round_number_at_or_above_the_peak(peak: float, top: float) -> None:
    assert _nice(peak) == pytest.approx(top)
