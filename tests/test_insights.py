"""Windowed figures (vidgate.insights) over rows written through the real store and ledger, on
SQLite and PostgreSQL, at an injected ``now``: percentiles, success rates, error codes, window
edges, tenants, buckets, the month to date and its projection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.insights_support import Rows
from vidgate.accounting import BudgetBook
from vidgate.db import make_engine, upgrade
from vidgate.exceptions import InvalidRequest
from vidgate.insights import (
    aligned,
    month_to_date,
    percentile,
    provider_stats,
    rolling,
    spend_series,
)
from vidgate.insights.windows import parse_window
from vidgate.settings import Settings

NOW = datetime(2026, 12, 10, 12, 30, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture
def db(backend: str) -> Iterator[sa.Engine]:
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def rows(db: sa.Engine) -> Rows:
    return Rows(db)


# -- percentiles and windows --------------------------------------------------------------


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile(range(1, 21), 0.95) == pytest.approx(19.05)
    assert percentile([10.0, 20.0], 0.0) == 10.0 and percentile([10.0, 20.0], 1.0) == 20.0
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_a_window_name_outside_the_choices_is_refused_with_them() -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_window("year")
    assert "hour, day, week" in refused.value.message
    assert refused.value.details["choices"] == ["hour", "day", "week"]
    assert parse_window(" Week ") == "week"
    with pytest.raises(InvalidRequest):
        parse_window(None)


def test_rolling_and_aligned_windows() -> None:
    hour = rolling("hour", NOW)
    assert (hour.start, hour.end) == (NOW - H, NOW)
    assert hour.contains(NOW - H) and not hour.contains(NOW) and not hour.contains(NOW - H - M)
    day = aligned("day", "hour", NOW)
    assert len(day.buckets) == 24
    assert day.buckets[-1] == datetime(2026, 12, 10, 12, tzinfo=UTC)
    assert day.start == day.buckets[0] == datetime(2026, 12, 9, 13, tzinfo=UTC)
    assert day.bucket_of(datetime(2026, 12, 10, 11, 59, tzinfo=UTC)) == 22
    assert day.bucket_of(datetime(2026, 12, 10, 12, 0, tzinfo=UTC)) == 23
    week = aligned("week", "day", NOW)
    assert len(week.buckets) == 7 and week.start == datetime(2026, 12, 4, tzinfo=UTC)
    assert len(aligned("month", "day", NOW).buckets) == 30
    # A tenant's calendar: Paris days start at 23:00 UTC in December.
    paris = aligned("week", "day", NOW, "Europe/Paris")
    assert paris.buckets[-1] == datetime(2026, 12, 9, 23, tzinfo=UTC)
    assert paris.timezone == "Europe/Paris"
    # Across the spring change of clocks each local day still starts at its own midnight.
    spring = aligned("week", "day", datetime(2026, 3, 31, 12, tzinfo=UTC), "Europe/Paris")
    assert datetime(2026, 3, 28, 23, tzinfo=UTC) in spring.buckets
    assert datetime(2026, 3, 29, 22, tzinfo=UTC) in spring.buckets


# -- provider figures ---------------------------------------------------------------------


def test_provider_figures_over_a_window(rows: Rows, db: sa.Engine) -> None:
    start = NOW - H
    for seconds in (10, 20, 30, 40):
        job = rows.job(duration=5)
        rows.attempt(
            job,
            status="succeeded",
            submitted=NOW - 2 * M - seconds * timedelta(seconds=1),
            finished=NOW - 2 * M,
            cost=0.5,
        )
    rows.delivered(job, 4.0)  # the last one's video measured 4 s, not the 5 asked
    for code in ("provider_error", "timeout", "timeout"):
        job = rows.job()
        rows.attempt(
            job, status="failed", submitted=NOW - 9 * M, finished=NOW - 8 * M, code=code, cost=0.1
        )
    job = rows.job()
    rows.attempt(job, status="canceled", submitted=NOW - 9 * M, finished=NOW - 7 * M)
    job = rows.job()
    rows.attempt(job, status="running", submitted=NOW - 5 * M)
    # On the edges: finished exactly at the start counts, a microsecond before does not; a task
    # still running that was submitted before the window is not in it either.
    job = rows.job()
    rows.attempt(job, status="succeeded", submitted=start - 3 * M, finished=start, cost=0.5)
    job = rows.job()
    rows.attempt(
        job,
        status="failed",
        submitted=start - 3 * M,
        finished=start - timedelta(microseconds=1),
        code="outside",
    )
    job = rows.job()
    rows.attempt(job, status="running", submitted=start - M)
    # Another model, and another tenant's attempt.
    job = rows.job()
    rows.attempt(
        job, status="succeeded", submitted=NOW - 3 * M, finished=NOW - M, model="gen3", cost=1.0
    )
    other = rows.job(tenant="beta")
    rows.attempt(
        other,
        status="failed",
        submitted=NOW - 3 * M,
        finished=NOW - M,
        model="gen3",
        code="content_rejected",
    )

    stats = provider_stats(db, "hour", now=NOW, tenant="acme")
    assert [(m.provider, m.model) for m in stats.models] == [("runway", "gen3"), ("runway", "gen4")]
    gen4 = stats.models[1]
    assert (gen4.attempts, gen4.succeeded, gen4.failed, gen4.canceled, gen4.running) == (
        10,
        5,
        3,
        1,
        1,
    )
    assert gen4.success_rate == pytest.approx(5 / 8)
    # 10, 20, 30, 40 and the edge one's 180 s.
    assert gen4.p50_seconds == pytest.approx(30.0)
    assert gen4.p95_seconds == pytest.approx(40 + (180 - 40) * 0.8)
    assert gen4.errors == (("timeout", 2), ("provider_error", 1))
    assert gen4.cost_usd == pytest.approx(5 * 0.5 + 3 * 0.1)
    # Delivered seconds: 5 + 5 + 5 + 4 (measured) + 2 (the edge job's asked duration).
    assert gen4.output_seconds == pytest.approx(21.0)
    assert gen4.usd_per_output_second == pytest.approx(2.5 / 21.0)
    assert stats.models[0].errors == ()  # beta's failure is not acme's
    provider = stats.providers[0]
    assert provider.model is None and provider.attempts == 11 and provider.succeeded == 6
    assert provider.success_rate == pytest.approx(6 / 9)

    everyone = provider_stats(db, "hour", now=NOW)
    gen3 = everyone.models[0]
    assert (gen3.attempts, gen3.failed, gen3.errors) == (2, 1, (("content_rejected", 1),))
    day = provider_stats(db, "day", now=NOW, tenant="acme")
    assert day.models[1].attempts == 12  # the edge ones are inside a day
    assert provider_stats(db, "hour", now=NOW + 2 * H, tenant="acme").models == ()
    body = stats.to_dict()
    assert body["object"] == "stats.providers" and body["window"]["name"] == "hour"
    assert body["data"][1]["errors"][0] == {"code": "timeout", "count": 2}


def test_nothing_finished_has_no_rate_and_no_percentiles(rows: Rows, db: sa.Engine) -> None:
    job = rows.job()
    rows.attempt(job, status="running", submitted=NOW - M)
    only = provider_stats(db, "hour", now=NOW).models[0]
    assert only.success_rate is None and only.p50_seconds is None
    assert only.usd_per_output_second is None
    assert only.to_dict()["success_rate"] is None


# -- spend --------------------------------------------------------------------------------


def test_a_spend_series_puts_each_settlement_in_its_bucket(rows: Rows, db: sa.Engine) -> None:
    rows.spent(1.0, datetime(2026, 12, 10, 12, 5, tzinfo=UTC), user="ann", template="promo@2")
    rows.spent(2.0, datetime(2026, 12, 10, 11, 59, tzinfo=UTC), user="bob", model="gen3")
    rows.spent(4.0, datetime(2026, 12, 9, 13, 0, tzinfo=UTC), user="ann", template="promo@1")
    rows.spent(8.0, datetime(2026, 12, 9, 12, 59, tzinfo=UTC), user="cy")  # before the window
    rows.spent(16.0, datetime(2026, 12, 10, 12, 0, tzinfo=UTC), tenant="beta", provider="luma")

    series = spend_series(db, by="model", window="day", now=NOW, tenant="acme")
    assert series.window.bucket == "hour" and len(series.window.buckets) == 24
    by_key = {s.key: s for s in series.series}
    assert set(by_key) == {"runway:gen4", "runway:gen3"}
    assert by_key["runway:gen4"].usd[0] == 4.0 and by_key["runway:gen4"].usd[23] == 1.0
    assert by_key["runway:gen3"].usd[22] == 2.0
    assert series.total_usd == pytest.approx(7.0)
    assert series.series[0].key == "runway:gen4"  # the dearest first
    assert [(x.key, x.usd) for x in series.top_users] == [("ann", 5.0), ("bob", 2.0)]
    assert [(x.key, x.usd, x.jobs) for x in series.top_templates] == [
        ("promo", 5.0, 2),
        ("-", 2.0, 1),
    ]

    everyone = spend_series(db, by="provider", window="week", now=NOW)
    assert everyone.window.bucket == "day" and len(everyone.window.buckets) == 7
    totals = {s.key: s.total_usd for s in everyone.series}
    assert totals == {"runway": 15.0, "luma": 16.0}
    assert everyone.series[0].usd[-1] == 16.0  # luma, today
    by_template = spend_series(db, by="template", window="day", now=NOW, tenant="acme", top=1)
    assert [s.key for s in by_template.series] == ["promo", "-"]
    assert len(by_template.top_users) == 1
    body = series.to_dict()
    assert body["object"] == "spend.series" and len(body["buckets"]) == 24
    assert body["series"][0]["usd"][0] == 4.0


def test_spend_series_refuses_what_it_does_not_know(db: sa.Engine) -> None:
    for query in (
        {"by": "colour"},
        {"window": "hour"},
        {"bucket": "minute"},
        {"top": 0},
    ):
        with pytest.raises(InvalidRequest):
            spend_series(db, now=NOW, **query)  # type: ignore[arg-type]


def test_a_tenants_days_follow_its_calendar(rows: Rows, db: sa.Engine) -> None:
    BudgetBook(db).set("acme", None, {"timezone": "America/New_York"})
    # 03:00 UTC on the 10th is the evening of the 9th in New York.
    rows.spent(1.0, datetime(2026, 12, 10, 3, 0, tzinfo=UTC))
    rows.spent(2.0, datetime(2026, 12, 10, 6, 0, tzinfo=UTC))
    series = spend_series(db, window="week", now=NOW, tenant="acme")
    assert series.window.timezone == "America/New_York"
    assert series.series[0].usd[-2:] == (1.0, 2.0)
    assert series.month.timezone == "America/New_York"
    utc = spend_series(db, window="week", now=NOW)
    assert utc.series[0].usd[-1] == 3.0


def test_month_to_date_and_its_projection(rows: Rows, db: sa.Engine) -> None:
    rows.spent(10.0, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    rows.spent(20.0, datetime(2026, 12, 5, 0, 0, tzinfo=UTC))
    rows.spent(99.0, datetime(2026, 11, 30, 23, 59, tzinfo=UTC))  # last month
    rows.spent(50.0, datetime(2026, 12, 2, tzinfo=UTC), tenant="beta")
    now = datetime(2026, 12, 11, tzinfo=UTC)  # 10 of December's 31 days gone
    month = month_to_date(db, now=now, tenant="acme")
    assert month.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert month.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert month.usd == pytest.approx(30.0)
    assert month.projected_usd == pytest.approx(30.0 * 31 / 10)
    assert month_to_date(db, now=now).usd == pytest.approx(80.0)
    start = month_to_date(db, now=datetime(2026, 12, 1, tzinfo=UTC), tenant="acme")
    assert start.projected_usd == start.usd == 0.0  # no time elapsed: nothing to project
