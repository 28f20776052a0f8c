"""Prometheus metrics: this process's request counters and latencies, the job figures the
engine reads from the database at scrape time (true across every process sharing it), and the
last hour's provider figures (``vidgate.insights``), read at scrape time and reused for
``VIDGATE_METRICS_CACHE_SECONDS`` so a scrape storm does not hammer the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..engine import Engine
from ..insights import ProviderStats

__all__ = ["HttpMetrics"]


class HttpMetrics:
    """Request counters and latencies, plus the engine's job figures."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vidgate_http_requests_total",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vidgate_http_request_seconds",
            "HTTP request latency by route.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.registry.register(_JobCollector(engine))
        self.registry.register(_WindowCollector(engine))


class _JobCollector:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "vidgate_jobs", "Jobs by status and provider.", labels=["status", "provider"]
        )
        spend = CounterMetricFamily(
            "vidgate_spend_usd",
            "Money charged for provider attempts (settled in the ledger), by provider.",
            labels=["provider"],
        )
        ledger_spend = CounterMetricFamily(
            "vidgate_ledger_spend_usd",
            "Money charged (ledger settlements and adjustments), by tenant, provider and model.",
            labels=["tenant", "provider", "model"],
        )
        reserved = GaugeMetricFamily(
            "vidgate_reserved_usd",
            "Money held by unfinished jobs (their reservations), by tenant.",
            labels=["tenant"],
        )
        ratio = GaugeMetricFamily(
            "vidgate_budget_used_ratio",
            "(Used + reserved) / allowed for each budget and quota in its current period.",
            labels=["tenant", "user", "limit"],
        )
        generation = GaugeMetricFamily(
            "vidgate_generation_seconds_avg",
            "Mean time from submit to the end of successful attempts, by provider.",
            labels=["provider"],
        )
        phases = GaugeMetricFamily(
            "vidgate_phase_seconds_avg",
            "Mean time jobs spent in each phase, by provider (the last 1000 finished jobs).",
            labels=["provider", "phase"],
        )
        success = GaugeMetricFamily(
            "vidgate_attempt_success_ratio",
            "Share of finished attempts that succeeded, by provider.",
            labels=["provider"],
        )
        balance = GaugeMetricFamily(
            "vidgate_provider_balance_usd",
            "The latest account balance read from each provider that exposes one (USD).",
            labels=["provider"],
        )
        figures = self.engine.figures()
        for provider, usd in figures.balances_usd.items():
            balance.add_metric([provider], usd)
        for (status, provider), count in figures.jobs.items():
            by_status.add_metric([status, provider], count)
        for provider, one in figures.providers.items():
            spend.add_metric([provider], one.spend_usd)
            if one.mean_generation_seconds is not None:
                generation.add_metric([provider], one.mean_generation_seconds)
            if one.success_ratio is not None:
                success.add_metric([provider], one.success_ratio)
        for (provider, phase), seconds in figures.phase_seconds.items():
            phases.add_metric([provider, phase], seconds)
        for (tenant, provider, model), usd in figures.spend.items():
            ledger_spend.add_metric([tenant, provider, model], usd)
        for tenant, usd in figures.reserved.items():
            reserved.add_metric([tenant], usd)
        for (tenant, user, limit), value in figures.budget_ratios.items():
            ratio.add_metric([tenant, user, limit], value)
        yield from (
            by_status,
            spend,
            generation,
            success,
            phases,
            ledger_spend,
            reserved,
            ratio,
            balance,
        )


class _WindowCollector:
    """The last hour per provider and model (label ``window="1h"``): success ratio,
    generation seconds p50/p95 and attempts by how they ended."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._cached: tuple[float, ProviderStats] | None = None

    def _stats(self) -> ProviderStats:
        ttl = self.engine.settings.metrics_cache_seconds
        with self._lock:  # one read per period, however many scrapes arrive at once
            now = time.monotonic()
            if self._cached is None or self._cached[0] <= now:
                self._cached = (now + ttl, self.engine.provider_stats("hour"))
            return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        labels = ["provider", "model", "window"]
        success = GaugeMetricFamily(
            "vidgate_window_success_ratio",
            "Share of the attempts that ended in the window and finished that succeeded.",
            labels=labels,
        )
        seconds = GaugeMetricFamily(
            "vidgate_window_generation_seconds",
            "Submit to finish of the window's successful attempts, by quantile (0.5, 0.95).",
            labels=[*labels, "quantile"],
        )
        counts = GaugeMetricFamily(
            "vidgate_window_attempts",
            "Attempts in the window (ended in it, or running and submitted in it), by status.",
            labels=[*labels, "status"],
        )
        for row in self._stats().models:
            where = [row.provider, row.model or "", "1h"]
            if row.success_rate is not None:
                success.add_metric(where, row.success_rate)
            for quantile, value in (("0.5", row.p50_seconds), ("0.95", row.p95_seconds)):
                if value is not None:
                    seconds.add_metric([*where, quantile], value)
            for status, count in (
                ("succeeded", row.succeeded),
                ("failed", row.failed),
                ("canceled", row.canceled),
                ("running", row.running),
            ):
                counts.add_metric([*where, status], count)
        yield from (success, seconds, counts)
