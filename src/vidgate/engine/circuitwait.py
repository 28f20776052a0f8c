"""A job that arrives while every provider it could use is down waits for one to come back.

Before its first attempt the job workflow asks ``outage_wait_step`` whether any candidate's
provider may be tried now. When every candidate's circuit is open (or half-open: another job is
probing the provider), the job moves to phase ``provider_outage`` with a history line naming the
providers and when each may be tried again, sleeps durably until the earliest of those moments
(a restart resumes the sleep), and asks again — for at most ``VIDGATE_OUTAGE_WAIT`` seconds in
all. Then it goes on as before: a circuit still open skips its candidate and the job fails
``provider_unavailable``, its history saying how long it waited.

Without this, a burst that arrives during an outage fails at once, every job of it, and the
caller has to resubmit. The wait does not count against the job's deadline, which measures the
provider's time; ``VIDGATE_OUTAGE_WAIT`` bounds it instead (0: fail at once, as before).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .._clock import utcnow
from ..types import Phase, parse_ref
from .health import CircuitState, HealthBook
from .outage import step
from .runtime import current

__all__ = ["outage_delay", "outage_wait_step"]

#: How often a job asks again while another job probes a half-open provider.
HALF_OPEN_RECHECK = 5.0
#: The shortest sleep (a provider whose cooldown ends this instant).
SHORTEST = 0.05


def outage_delay(
    health: HealthBook, providers: Sequence[str], now: datetime, recheck: float
) -> tuple[float, str] | None:
    """Seconds until one of ``providers`` may be tried, and why none may be now; None when
    one may be tried now (its circuit is closed, or its cooldown is over)."""
    waits: list[tuple[float, str]] = []
    for provider in dict.fromkeys(providers):
        found = health.get(provider)
        if found.state is CircuitState.CLOSED:
            return None
        if found.state is CircuitState.HALF_OPEN:
            waits.append((recheck, f"{provider}: {found.describe()}"))
            continue
        if found.retry_at is None or found.retry_at <= now:
            return None  # its cooldown is over: this job may be the one that probes it
        waits.append(((found.retry_at - now).total_seconds(), f"{provider}: {found.describe()}"))
    if not waits:
        return None
    return min(w for w, _ in waits), "; ".join(why for _, why in waits)


@step("vidgate.outage_wait")
async def outage_wait_step(job_id: str, refs: list[str], waited: float) -> float:
    """Seconds the job should sleep before asking again; 0 when it should go on (a provider
    may be tried, or it has waited ``VIDGATE_OUTAGE_WAIT`` already)."""
    rt = current()
    left = rt.settings.outage_wait - waited
    if left <= 0:
        return 0.0
    recheck = min(HALF_OPEN_RECHECK, rt.settings.circuit_cooldown)
    providers = [parse_ref(ref).provider for ref in refs]
    found = outage_delay(rt.health, providers, utcnow(), recheck)
    if found is None:
        return 0.0
    delay, why = found
    pause = min(max(delay, SHORTEST), left)
    job = rt.store.get(job_id)
    rt.store.set_phase(
        job_id,
        Phase.PROVIDER_OUTAGE,
        job.progress,
        f"waiting for a provider to come back ({why}); asking again in {round(pause, 1):g} s, "
        f"{round(waited, 1):g} of {rt.settings.outage_wait:g} s waited",
    )
    return pause
