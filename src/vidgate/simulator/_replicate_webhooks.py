"""The Replicate simulator twin's webhooks: the account's ``whsec_`` signing secret, and the
watcher that sends a prediction's ``start`` / ``output`` / ``logs`` / ``completed`` deliveries,
signed as Replicate signs them (research 1.9).
"""

from __future__ import annotations

import base64
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..webhooks import sign
from ._replicate_predictions import PROVIDER, TERMINAL, _prediction, _state, output_shown_at
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


class _Watch:
    """Sends the prediction's webhooks as its state changes, until it is finished: a check on
    the simulator's timer at each moment its state may change (its timeline's next phase, its
    deadline, the ``logs`` throttle) and at once after a cancel (``SimState.poke``)."""

    def __init__(self, sim: SimState, task: SimTask) -> None:
        self.sim, self.task = sim, task
        self.events: list[str] = task.extra["webhook_events"]
        self.limit = time.time() + WATCH_LIMIT
        self.last_logs = ""
        self.logs_sent_at = 0.0
        self.output_sent = False

    def check(self, now: float) -> float | None:
        sim, task, events = self.sim, self.task, self.events
        if now >= self.limit or sim.tasks.get(task.id) is not task:
            return None
        status = _state(task, now).status
        if status in TERMINAL:
            if "completed" in events:
                _deliver(sim, task, _prediction(sim, task, now))
            return None
        if "output" not in events and "logs" not in events:
            # Nothing to send before the end: a cheap look at the timeline, no body built.
            return self._next(now, status)
        body = _prediction(sim, task, now)
        if "output" in events and body["output"] is not None and not self.output_sent:
            self.output_sent = True
            _deliver(sim, task, body)
        elif (
            "logs" in events
            and body["logs"] != self.last_logs
            and now - self.logs_sent_at >= WEBHOOK_THROTTLE
        ):
            self.last_logs, self.logs_sent_at = body["logs"], now
            _deliver(sim, task, body)
        return self._next(now, status)

    def _next(self, now: float, status: str) -> float:
        wake = self.limit
        deadline: float | None = self.task.extra.get("deadline")
        for moment in (self.task.changes_at(now), deadline):
            if moment is not None and moment > now:
                wake = min(wake, moment)
        if "output" in self.events and status == "processing" and not self.output_sent:
            # The moment the output URL appears (late in the run): looked at then, whatever
            # the ``logs`` throttle's rhythm, so a short window is not missed.
            early = output_shown_at(self.task)
            wake = min(wake, early if early > now else now + WEBHOOK_THROTTLE)
        if "logs" in self.events and status == "processing":
            wake = min(wake, max(now + _LOGS_STEP, self.logs_sent_at + WEBHOOK_THROTTLE))
        return wake


#: While a subscribed ``logs`` stream may change, how often it is compared.
_LOGS_STEP = 0.05


def _start_watching(sim: SimState, task: SimTask) -> None:
    if "start" in task.extra["webhook_events"]:
        _deliver(sim, task, _prediction(sim, task, time.time()))
    sim.watch(task, _Watch(sim, task).check)
