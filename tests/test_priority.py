"""Priority and strategy, the pure parts: the batch window's arithmetic, the strategy names and
their settings, and each strategy's order over a real plan of the built-in catalogue."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from vidgate.catalog import load_catalog
from vidgate.exceptions import InvalidRequest
from vidgate.priority.model import Priority, Strategy, parse_strategies
from vidgate.priority.window import BatchWindow
from vidgate.ranking import ModelFigures, follow, rank
from vidgate.routing import RoutePlan, plan_route
from vidgate.server.tenancy import limit_changes
from vidgate.settings import Settings
from vidgate.types import VideoRequest

KEYS = {
    "RUNWAYML_API_SECRET": "rw-test-secret-0123456789",
    "REPLICATE_API_TOKEN": "r8_test-token-0123456789abcdef",
    "FAL_KEY": "fal-key-id:fal-key-secret-0123456789",
    "LUMAAI_API_KEY": "test-luma-key",
}
TODAY = date(2026, 12, 2)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the window --------------------------------------------------------------------------------


def test_a_window_over_midnight_contains_the_night_and_opens_next_at_its_start() -> None:
    night = BatchWindow.parse("22:00-06:00")
    assert night.contains(at("2026-12-02T23:30")) and night.contains(at("2026-12-02T05:59"))
    assert not night.contains(at("2026-12-02T06:00")) and not night.contains(at("2026-12-02T12:00"))
    assert night.next_open(at("2026-12-02T12:00")) == at("2026-12-02T22:00")
    assert night.next_open(at("2026-12-02T23:00")) == at("2026-12-02T23:00")  # open: now
    day = BatchWindow.parse("01:00-02:00")
    assert day.next_open(at("2026-12-02T03:00")) == at("2026-12-03T01:00")  # tomorrow's


def test_a_window_is_in_its_time_zone() -> None:
    berlin = BatchWindow.parse("22:00-06:00", "Europe/Berlin")  # UTC+1 in December
    assert berlin.contains(at("2026-12-02T21:30"))  # 22:30 in Berlin
    assert not berlin.contains(at("2026-12-02T20:30"))
    assert berlin.next_open(at("2026-12-02T12:00")) == at("2026-12-02T21:00")
    assert berlin.describe() == "22:00-06:00 Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "zone", "needle"),
    [
        ("10pm-6am", "UTC", "looks like 22:00-06:00"),
        ("25:00-06:00", "UTC", "00:00 to 23:59"),
        ("22:00-06:00", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_a_bad_window_is_refused_in_words(text: str, zone: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        BatchWindow.parse(text, zone)
    with pytest.raises(ValueError, match=needle):
        Settings(batch_window=text, batch_timezone=zone)


# -- names and settings ------------------------------------------------------------------------


def test_strategies_come_as_pairs_or_an_object_and_defaults_fill_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert parse_strategies("batch=fastest, critical=quality") == {
        Priority.BATCH: Strategy.FASTEST,
        Priority.CRITICAL: Strategy.QUALITY,
    }
    monkeypatch.setenv("VIDGATE_STRATEGIES", "batch=fastest")
    assert Settings().strategies == {
        Priority.CRITICAL: Strategy.RELIABLE,
        Priority.STANDARD: Strategy.CHEAPEST,
        Priority.BATCH: Strategy.FASTEST,
    }
    monkeypatch.setenv("VIDGATE_STRATEGIES", '{"standard": "preferred"}')
    assert Settings().strategies[Priority.STANDARD] is Strategy.PREFERRED
    for bad, needle in (("urgent=cheapest", "unknown priority"), ("batch=free", "unknown strat")):
        with pytest.raises(ValueError, match=needle):
            parse_strategies(bad)


def test_a_tenants_strategy_changes_are_validated_and_null_clears_one() -> None:
    assert limit_changes({"strategies": {"batch": "cheapest", "critical": None}}) == {
        "strategies": {"batch": "cheapest", "critical": None}
    }
    assert limit_changes({"default_priority": "batch"}) == {"default_priority": "batch"}
    for bad in ({"strategies": {"batch": "free"}}, {"strategies": "batch=cheapest"}):
        with pytest.raises(InvalidRequest, match="strateg"):
            limit_changes(bad)
    with pytest.raises(InvalidRequest, match="default_priority is one of"):
        limit_changes({"default_priority": "urgent"})


# -- the order of each strategy over a real plan ----------------------------------------------


def plan(**fields: object) -> RoutePlan:
    request = VideoRequest.model_validate({"prompt": "a red fox", "duration": 5, **fields})
    return plan_route(request, load_catalog(), today=TODAY, environ=KEYS)


def request(**fields: object) -> VideoRequest:
    return VideoRequest.model_validate({"prompt": "a red fox", "duration": 5, **fields})


def usd(found: RoutePlan) -> list[float]:
    return [c.quote.usd if c.quote else float("inf") for c in found.candidates]


def test_cheapest_puts_the_cheapest_capable_model_first_and_says_by_how_much() -> None:
    ranked = rank(plan(), Strategy.CHEAPEST, request(), today=TODAY)
    assert usd(ranked) == sorted(usd(ranked))
    first, second = ranked.candidates[:2]
    assert ranked.reasons[first.ref] == f"#1: ${usd(ranked)[0]:.2f}, the cheapest capable model"
    assert (
        ranked.reasons[second.ref].startswith("#2: ")
        and "more than the cheapest" in (ranked.reasons[second.ref])
    )
    assert ranked.strategy == "cheapest"


def test_cheapest_says_a_tie_is_a_tie() -> None:
    # With no keys only the simulated models are capable, and both cost nothing.
    free = plan_route(request(), load_catalog(), today=TODAY, environ={})
    ranked = rank(free, Strategy.CHEAPEST, request(), today=TODAY)
    first, second = ranked.candidates[:2]
    assert usd(ranked)[:2] == [0.0, 0.0]
    assert ranked.reasons[first.ref] == "#1: $0.00, the cheapest capable model"
    assert ranked.reasons[second.ref].startswith(f"#2: $0.00, as cheap as {first.ref} (tied")


def test_quality_puts_the_premium_tier_first() -> None:
    ranked = rank(plan(), Strategy.QUALITY, request(), today=TODAY)
    tiers = [c.model.tier for c in ranked.candidates]
    assert tiers == sorted(tiers, key=["premium", "standard", "economy"].index)
    assert tiers[0] == "premium" and "tier premium" in ranked.reasons[ranked.first.ref]


def test_fastest_follows_the_measured_p50_and_puts_the_unmeasured_after() -> None:
    base = plan()
    slow, fast, *_ = (c.ref for c in base.candidates)
    figures = {slow: ModelFigures(runs=5, p50_seconds=90.0), fast: ModelFigures(3, 12.5)}
    ranked = rank(base, Strategy.FASTEST, request(), figures, today=TODAY)
    assert [c.ref for c in ranked.candidates[:2]] == [fast, slow]
    assert ranked.reasons[fast] == "#1: p50 12.5 s over 3 recent successful runs"
    assert "no measured generation time yet" in ranked.reasons[ranked.candidates[2].ref]


def test_reliable_follows_the_measured_success_rate() -> None:
    base = plan()
    shaky, steady = base.candidates[0].ref, base.candidates[-1].ref
    figures = {
        shaky: ModelFigures(ended=10, succeeded=2),
        steady: ModelFigures(ended=20, succeeded=20),
    }
    ranked = rank(base, Strategy.RELIABLE, request(), figures, today=TODAY)
    assert ranked.first.ref == steady and ranked.candidates[-1].ref == shaky
    assert "20 of 20 recent attempts succeeded" in ranked.reasons[steady]


def test_the_requests_own_provider_order_is_kept_by_every_strategy() -> None:
    asked = {"providers": ["runway", "luma"]}
    for strategy in Strategy:
        ranked = rank(plan(**asked), strategy, request(**asked), today=TODAY)
        providers = [c.model.provider for c in ranked.candidates]
        assert providers == sorted(providers, key=["runway", "luma"].index), strategy
        assert "runway is the request's choice #1" in ranked.reasons[ranked.first.ref]


def test_the_worker_keeps_the_order_admission_decided() -> None:
    admitted = rank(plan(), Strategy.CHEAPEST, request(), today=TODAY)
    order = [c.ref for c in admitted.candidates]
    # The worker ranks afresh (figures may have moved) but keeps admission's order and reasons.
    fresh = rank(plan(), Strategy.QUALITY, request(), today=TODAY)
    kept = follow(fresh, order[1:], admitted.reasons)
    assert [c.ref for c in kept.candidates[: len(order) - 1]] == order[1:]
    assert kept.candidates[-1].ref == order[0]  # unknown to admission: after, as ranked now
    assert kept.reasons[order[1]] == admitted.reasons[order[1]]
    assert kept.reasons[order[0]].endswith("(new since admission)")
