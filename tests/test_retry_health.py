"""The retry policy and the circuit breaker, on their own."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vidgate.db import make_engine, upgrade
from vidgate.engine.health import CircuitState, HealthBook
from vidgate.engine.retry import RetryPolicy, definitely_not_created, retrying
from vidgate.exceptions import (
    GenerationFailed,
    ProviderAuthError,
    ProviderUnavailable,
    RateLimited,
)
from vidgate.types import Outcome


def test_retry_after_wins_up_to_its_cap() -> None:
    policy = RetryPolicy(retry_after_cap=10)
    limited = RateLimited("slow down", provider="p", status_code=429, retry_after=4)
    assert policy.delay(1, limited) == 4
    assert policy.delay(1, RateLimited("x", provider="p", retry_after=500)) == 10


def test_backoff_grows_with_full_jitter_under_a_ceiling() -> None:
    policy = RetryPolicy(base_delay=1, factor=2, max_delay=5)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling
        assert len(set(delays)) > 100  # jittered, not lock-step


def test_overrides_per_provider() -> None:
    policy = RetryPolicy.for_provider("runway", {"runway": {"max_attempts": 9}})
    assert policy.max_attempts == 9
    assert RetryPolicy.for_provider("luma", {"runway": {"max_attempts": 9}}).max_attempts == 6


async def test_retrying_retries_only_retryable_errors_and_says_why() -> None:
    calls: list[int] = []
    reasons: list[str] = []
    slept: list[float] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ProviderUnavailable("503", provider="p", status_code=503, retry_after=0.25)
        return "ok"

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    result = await retrying(
        "status check", flaky, RetryPolicy(), on_retry=reasons.append, sleep=fake_sleep
    )
    assert result == "ok" and len(calls) == 3
    assert slept == [0.25, 0.25]
    assert "status check failed (provider_unavailable: 503); retry 1/5 in 0.2 s" in reasons[0]

    async def broken() -> str:
        raise GenerationFailed("no", provider="p")

    with pytest.raises(GenerationFailed):
        await retrying("status check", broken, RetryPolicy(), sleep=fake_sleep)


async def test_retrying_gives_up_after_max_attempts() -> None:
    calls: list[int] = []

    async def down() -> None:
        calls.append(1)
        raise ProviderUnavailable("503", provider="p")

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(ProviderUnavailable):
        await retrying("download", down, RetryPolicy(max_attempts=4), sleep=no_sleep)
    assert len(calls) == 4


def test_only_certain_non_creates_may_be_sent_again() -> None:
    assert definitely_not_created(RateLimited("429", provider="p", status_code=429))
    refused = ProviderUnavailable("refused", provider="p", details={"not_sent": True})
    assert definitely_not_created(refused)
    assert not definitely_not_created(ProviderUnavailable("500", provider="p", status_code=500))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_circuit_opens_probes_once_and_closes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.sqlite'}")
    upgrade(engine)
    clock = Clock()
    book = HealthBook(engine, threshold=3, cooldown=60, clock=clock)
    assert book.admit("runway") == (True, None)
    for _ in range(2):
        book.record("runway", Outcome.RETRYABLE, "503")
    assert book.get("runway").state is CircuitState.CLOSED
    # Content rejections and the caller's own errors say nothing about the provider.
    book.record("runway", Outcome.CONTENT_REJECTED, "nsfw")
    book.record("runway", Outcome.USER_ERROR, "bad size")
    assert book.get("runway").state is CircuitState.CLOSED
    book.record("runway", Outcome.TERMINAL, "generation failed")
    health = book.get("runway")
    assert health.state is CircuitState.OPEN and health.consecutive_failures == 3
    allowed, reason = book.admit("runway")
    assert not allowed and reason is not None and "circuit open until 12:01:00" in reason
    # After the cooldown exactly one caller gets the probe.
    clock.now += timedelta(seconds=61)
    assert book.admit("runway") == (True, None)
    assert book.admit("runway")[0] is False
    assert book.get("runway").state is CircuitState.HALF_OPEN
    # The probe failing opens it again; succeeding closes it.
    book.record("runway", Outcome.OPERATOR_ACTION, "401")
    assert book.get("runway").state is CircuitState.OPEN
    clock.now += timedelta(seconds=61)
    assert book.admit("runway") == (True, None)
    book.record("runway", None)
    health = book.get("runway")
    assert health.state is CircuitState.CLOSED and health.consecutive_failures == 0
    assert book.get("luma").describe() == "healthy"
    assert ProviderAuthError("401", provider="p").outcome == "operator_action"
