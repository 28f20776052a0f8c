"""Charts drawn on the server as SVG geometry (no chart script, nothing to vendor): a stacked
bar chart of a series per bucket. The template draws the shapes; each chart also comes with
its numbers as a table, for screen readers and for copying."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["PALETTE", "Bar", "StackedBars", "stacked_bars"]

#: Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7a7a7a")

WIDTH = 720.0
HEIGHT = 240.0
LEFT = 56.0  # room for the axis labels
BOTTOM = 24.0
TOP = 8.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str  # the tooltip: bucket, series and amount


@dataclass
class StackedBars:
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    bottom: float = HEIGHT - BOTTOM
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label) on the axis
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x, label) under buckets
    legend: list[tuple[str, str]] = field(default_factory=list)  # (color, name)
    peak: float = 0.0


def _nice(peak: float) -> float:
    """A round top for the axis at or above ``peak``."""
    if peak <= 0:
        return 1.0
    scale = 10 ** len(str(int(peak))) / 10 if peak >= 1 else 1.0
    while scale > peak:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= peak:
            return step * scale
    return 10 * scale


def _money(value: float) -> str:
    return f"${value:,.0f}" if value >= 10 else f"${value:,.2f}"


def stacked_bars(
    buckets: tuple[datetime, ...],
    series: list[tuple[str, tuple[float, ...]]],
    *,
    hourly: bool,
) -> StackedBars:
    """One bar per bucket, stacked by series (named, one amount per bucket)."""
    chart = StackedBars()
    colors = {name: PALETTE[i % len(PALETTE)] for i, (name, _) in enumerate(series)}
    chart.legend = [(colors[name], name) for name, _ in series]
    totals = [sum(values[i] for _, values in series) for i in range(len(buckets))]
    chart.peak = max(totals, default=0.0)
    top = _nice(chart.peak)
    plot = chart.bottom - TOP
    slot = (chart.width - chart.left) / max(1, len(buckets))
    every = max(1, len(buckets) // 8)  # at most about eight labels under the bars
    for i, start in enumerate(buckets):
        x = chart.left + i * slot + slot * 0.15
        stamp = start.strftime("%H:%M") if hourly else start.strftime("%d %b")
        if i % every == 0:
            chart.labels.append((x + slot * 0.35, stamp))
        y = chart.bottom
        for name, values in series:
            amount = values[i]
            if amount <= 0:
                continue
            height = plot * amount / top
            y -= height
            label = f"{stamp}: {name} {_money(amount)}"
            chart.bars.append(Bar(x, y, slot * 0.7, height, colors[name], label))
    chart.ticks = [(chart.bottom - plot * f, _money(top * f)) for f in (0.0, 0.5, 1.0)]
    return chart
