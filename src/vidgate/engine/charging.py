"""The engine's side of charging: from the workflow's payloads to ``accounting.charges``.

The workflow hands over how an attempt ended (its error, the provider's last word on the task,
what was delivered); this module asks ``accounting.charges`` what that cost, so the workflow
holds no price or billing knowledge.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from .._clock import as_utc
from ..accounting import balances
from ..accounting.balances import BalanceReading
from ..accounting.charges import Charge, attempt_charge, ending
from ..catalog import Catalog
from ..db import attempts
from ..exceptions import GenerationFailed, VidgateError
from ..providers.base import ProviderCharge, TaskState, TaskStatus
from ..providers.registry import provider_classes
from ..types import MediaInfo, VideoRequest
from .payloads import AttemptPayload, ChargePayload, EndedPayload, ErrorPayload, MediaPayload
from .runtime import Runtime

__all__ = ["charge_attempt", "ended_payload", "read_balances", "reconcile_open_charges"]

log = logging.getLogger("vidgate.accounting")


def ended_payload(status: TaskStatus | None) -> EndedPayload | None:
    """The last poll's state and reported charge, as a checkpointable payload."""
    if status is None:
        return None
    charge = status.charge.model_dump(mode="json") if status.charge else None
    return {"state": status.state.value, "charge": cast(ChargePayload | None, charge)}


def charge_attempt(
    catalog: Catalog,
    request: VideoRequest,
    attempt: AttemptPayload,
    error: ErrorPayload | None,
    ended: EndedPayload | None,
    media: MediaPayload | None,
) -> Charge:
    """What ``attempt`` cost, ended as the payloads say."""
    state = ended["state"] if ended else None
    reported = ended["charge"] if ended else None
    how = ending(
        cast(dict[str, Any], error) if error else None,
        remote_id=attempt["remote_id"],
        task_state=state,
    )
    quote = attempt["quote"]
    return attempt_charge(
        catalog,
        f"{attempt['provider']}:{attempt['model']}",
        request,
        how=how,
        report=ProviderCharge.model_validate(reported) if reported else None,
        media=MediaInfo.model_validate(media) if media else None,
        quoted_usd=quote["usd"] if quote else None,
    )


# -- what workers do between jobs: settle open charges, read balances ----------------------------

#: An open charge older than this is left as it is (the provider no longer keeps the task).
GIVE_UP_AFTER = timedelta(days=1)


async def reconcile_open_charges(rt: Runtime, *, limit: int = 50) -> int:
    """Poll the tasks whose final charge was never read (given up on, cancelled) and settle
    what they cost: the provider's own figure where it gives one, and a task that succeeded
    after vidgate gave up on it (a late success) is charged in full. Returns how many were
    settled."""
    store = rt.store
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(attempts)
            .where(attempts.c.charge_open.is_(True), attempts.c.remote_id.is_not(None))
            .order_by(attempts.c.finished_at)
            .limit(limit)
        ).all()
    settled = 0
    now = datetime.now(UTC)
    for row in rows:
        finished = as_utc(row.finished_at)
        if finished is not None and now - finished > GIVE_UP_AFTER:
            store.update_attempt(row.id, charge_open=False)
            continue
        try:
            status = await rt.provider(row.provider).poll(row.remote_id)
        except GenerationFailed as exc:
            if exc.status_code == 404:  # the task is gone: its charge stays as the rule said
                store.update_attempt(row.id, charge_open=False)
            continue
        except VidgateError as exc:
            log.info("could not read the final charge of task %s: %s", row.remote_id, exc)
            continue
        if not status.state.terminal:
            continue
        settled += 1
        _settle(rt, row, status)
    return settled


def _settle(rt: Runtime, row: Any, status: TaskStatus) -> None:
    how = {
        TaskState.SUCCEEDED: "succeeded",
        TaskState.CANCELED: "canceled",
    }.get(status.state, "failed")
    job = rt.store.get(row.job_id)
    charge = attempt_charge(
        rt.catalog,
        f"{row.provider}:{row.model}",
        job.request,
        how=how,
        report=status.charge,
        quoted_usd=row.cost_usd,
    )
    adjusted = rt.store.settle_late_charge(
        row.id, row.job_id, cost_usd=charge.usd, cost_basis=charge.basis, charge_open=False
    )
    usd = f"${charge.usd:.2f}" if charge.usd is not None else "an unknown amount"
    what = (
        f"task {row.remote_id} at {row.provider} succeeded after vidgate gave up on it (a late "
        f"success): charged {usd}"
        if how == "succeeded"
        else f"task {row.remote_id} at {row.provider} ended {status.state.value}: charged {usd}"
    )
    basis = charge.basis.value if charge.basis else "unknown"
    if adjusted:
        sign = "+" if adjusted > 0 else "-"
        what += f"; the ledger was adjusted by {sign}${abs(adjusted):.2f}"
    rt.store.add_event(
        row.job_id, job.phase, job.progress, f"attempt {row.number}: {what} ({basis}: {charge.why})"
    )


async def read_balances(rt: Runtime) -> list[BalanceReading]:
    """Read and keep the balance of every configured provider that exposes one; warn when a
    balance will not cover the next hour at the last hour's spend."""
    readings: list[BalanceReading] = []
    adapters = provider_classes()
    for name, profile in rt.catalog.providers.items():
        if not profile.billing.balance or name not in adapters or not adapters[name].configured():
            continue
        try:
            balance = await rt.provider(name).balance()
        except VidgateError as exc:
            log.warning("could not read %s's balance: %s", name, exc)
            continue
        if balance is None:
            continue
        reading = balances.record(rt.store.engine, name, balance, profile.billing)
        readings.append(reading)
        rate = balances.spend_last_hour(rt.store.engine, name)
        if balances.covers_next_hour(reading, rate) is False:
            log.warning(
                "%s's balance ($%.2f) will not cover the next hour at the last hour's spend "
                "($%.2f an hour)",
                name,
                reading.usd or 0.0,
                rate,
            )
    return readings
