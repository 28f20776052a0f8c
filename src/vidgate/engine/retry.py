"""The one retry policy: exponential backoff with full jitter, honouring ``Retry-After``.

Every provider call the engine repeats goes through ``retrying()``: polls, downloads, cancels and
lookups. A create call never does — after an ambiguous failure (a timeout after sending, a 5xx)
the engine looks the task up by our reference instead (see ``workflow.submit_step``). Only a
create that certainly did not happen (429, refused connection) is sent again.

Per-provider overrides come from ``VIDGATE_RETRY_OVERRIDES``, e.g.
``{"runway": {"max_attempts": 8, "max_delay": 60}}``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..exceptions import RateLimited, VidgateError

__all__ = ["RetryPolicy", "definitely_not_created", "retrying"]

log = logging.getLogger("vidgate.retry")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    #: A provider's ``Retry-After`` is honoured up to this many seconds.
    retry_after_cap: float = 120.0

    @classmethod
    def for_provider(cls, provider: str, overrides: dict[str, dict[str, Any]]) -> RetryPolicy:
        return replace(cls(), **overrides.get(provider, {}))

    def delay(
        self, attempt: int, error: BaseException | None = None, *, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1).

        A ``Retry-After`` from the provider wins (capped); otherwise full jitter over an
        exponentially growing ceiling, so many jobs retrying at once spread out."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.retry_after_cap))
        ceiling = min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


def definitely_not_created(error: BaseException) -> bool:
    """True when a failed create certainly made no task: rate limited, or never sent."""
    if isinstance(error, RateLimited):
        return True
    return isinstance(error, VidgateError) and bool(error.details.get("not_sent"))


async def retrying(
    operation: str,
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[str], None] | None = None,
    retry_if: Callable[[BaseException], bool] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``call``, retrying retryable vidgate errors under ``policy``. Each retry's reason is
    logged and handed to ``on_retry`` (the engine writes it into the job's history)."""
    should = retry_if or (lambda exc: isinstance(exc, VidgateError) and exc.retryable)
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt >= policy.max_attempts or not should(exc):
                raise
            wait = policy.delay(attempt, exc)
            reason = (
                f"{operation} failed ({getattr(exc, 'code', type(exc).__name__)}: {exc}); "
                f"retry {attempt}/{policy.max_attempts - 1} in {wait:.1f} s"
            )
            log.warning(reason)
            if on_retry is not None:
                on_retry(reason)
            await sleep(wait)
            attempt += 1
