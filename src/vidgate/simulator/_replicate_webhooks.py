"""The Replicate simulator twin's webhooks: the account's ``whsec_`` signing secret, and the
watcher that sends a prediction's ``start`` / ``output`` / ``logs`` / ``completed`` deliveries,
signed as Replicate signs them (research 1.9).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..webhooks import sign
from ._replicate_predictions import PROVIDER, TERMINAL, _prediction
from .state import SimState, SimTask

__all__ = ["EVENTS", "WATCH_LIMIT", "WEBHOOK_THROTTLE", "webhook_secret"]

#: How long a webhook watcher follows a prediction that never finishes (``hang``).
WATCH_LIMIT = 30 * 60.0
#: Replicate throttles ``logs`` / ``output`` webhooks to one per 500 ms.
WEBHOOK_THROTTLE = 0.5
EVENTS = ("start", "output", "logs", "completed")


# -- per-state twin data ------------------------------------------------------------------------


@dataclass
class _Account:
    """What this twin keeps beside the shared ``SimState``: the account's webhook secret."""

    secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )


_ACCOUNTS: weakref.WeakKeyDictionary[SimState, _Account] = weakref.WeakKeyDictionary()
_WATCHERS: set[asyncio.Task[None]] = set()


def _account(sim: SimState) -> _Account:
    account = _ACCOUNTS.get(sim)
    if account is None:
        account = _ACCOUNTS[sim] = _Account()
    return account


def webhook_secret(sim: SimState) -> str:
    """The ``whsec_`` secret this simulator signs Replicate webhooks with."""
    return _account(sim).secret


# -- webhooks ----------------------------------------------------------------------------------


def _deliver(sim: SimState, task: SimTask, body: dict[str, Any]) -> None:
    secret = webhook_secret(sim)

    def headers_for(raw: bytes) -> dict[str, str]:
        message_id = "msg_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
        timestamp = int(time.time())
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, raw),
        }

    sim.send_webhook(
        task.extra["webhook"], body, faults=task.faults, headers_for=headers_for, kind=PROVIDER
    )


async def _watch(sim: SimState, task: SimTask) -> None:
    """Send the prediction's webhooks as its state changes, until it is finished."""
    events: list[str] = task.extra["webhook_events"]
    limit = time.monotonic() + WATCH_LIMIT
    if "start" in events:
        _deliver(sim, task, _prediction(sim, task, time.time()))
    last_logs = ""
    logs_sent_at = 0.0
    output_sent = False
    while time.monotonic() < limit and sim.tasks.get(task.id) is task:
        now = time.time()
        body = _prediction(sim, task, now)
        if body["status"] in TERMINAL:
            if "completed" in events:
                _deliver(sim, task, body)
            return
        if "output" in events and body["output"] is not None and not output_sent:
            output_sent = True
            _deliver(sim, task, body)
        elif (
            "logs" in events
            and body["logs"] != last_logs
            and now - logs_sent_at >= WEBHOOK_THROTTLE
        ):
            last_logs, logs_sent_at = body["logs"], now
            _deliver(sim, task, body)
        await asyncio.sleep(0.05)


def _start_watching(sim: SimState, task: SimTask) -> None:
    watcher = asyncio.get_running_loop().create_task(_watch(sim, task))
    _WATCHERS.add(watcher)
    watcher.add_done_callback(_WATCHERS.discard)
