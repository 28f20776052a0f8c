"""Budget and spend alerts fire once per period and threshold, to the tenant's webhook (signed)
and the operator's (plain JSON), received by a real loopback server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.budget_support import FALLBACK_PER_SECOND, priced_catalog
from tests.conftest import small_request
from tests.support import Recorder
from vidgate.accounting import BudgetBook
from vidgate.accounting.alerts import OPERATOR, AlertWatcher
from vidgate.db import ledger, webhook_deliveries
from vidgate.engine import Engine
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings

pytestmark = pytest.mark.usefixtures("backend")
WORST = 2 * FALLBACK_PER_SECOND


@pytest.fixture(autouse=True)
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    priced_catalog(tmp_path / "catalog", monkeypatch)


def _outbox(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        query = sa.select(webhook_deliveries).where(webhook_deliveries.c.event != "video.queued")
        return [dict(r) for r in conn.execute(query).mappings()]


def test_thresholds_fire_once_per_period_each() -> None:
    engine = Engine(Settings())
    database = engine.database
    TenantBook(database).ensure_tenant("default", webhook_url="https://hooks.example/acme")
    BudgetBook(database).set("default", None, {"daily_usd": 2 * WORST, "thresholds": [50, 100]})
    watcher = AlertWatcher(database, operator_url="https://ops.example/alerts")
    assert watcher.check() == []
    engine.enqueue(small_request(duration=2))
    [half] = watcher.check()
    assert half.event == "budget.threshold" and half.data["threshold"] == 50
    assert watcher.check() == [], "a threshold fires once per period"
    engine.enqueue(small_request(duration=2))
    [full] = watcher.check()
    assert full.data["threshold"] == 100 and full.data["ratio"] == pytest.approx(1.0)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert watcher.check(tomorrow)[0].data["threshold"] == 100, "a new day fires again"
    rows = _outbox(database)
    tenant_rows = [r for r in rows if r["tenant"] == "default"]
    operator_rows = [r for r in rows if r["tenant"] == OPERATOR]
    assert len(tenant_rows) == len(operator_rows) == 3
    assert operator_rows[0]["payload"]["text"].startswith("vidgate budget.threshold: default")  # type: ignore[index]


def test_spend_anomaly_compares_the_last_hour_with_the_week_before() -> None:
    engine = Engine(Settings())
    database = engine.database
    now = datetime.now(UTC)

    def spent(usd: float, at: datetime) -> None:
        with database.begin() as conn:
            conn.execute(
                ledger.insert().values(
                    tenant="acme", job_id="job_x", kind="adjustment", amount_usd=usd, at=at
                )
            )

    watcher = AlertWatcher(database, anomaly_factor=5, anomaly_min_usd=1)
    spent(2.0, now - timedelta(minutes=10))
    assert watcher.check(now) == [], "no history: no mean to compare with"
    spent(16.8, now - timedelta(days=2))  # a mean of $0.10 an hour over 7 days
    [alert] = watcher.check(now)
    assert alert.event == "spend.anomaly" and alert.data["factor"] == pytest.approx(20)
    assert watcher.check(now) == []
    spent(100.0, now - timedelta(days=3))  # now the hour is ordinary
    later = now + timedelta(hours=1, minutes=1)
    spent(2.0, later - timedelta(minutes=5))
    assert watcher.check(later) == []


def test_alerts_reach_the_tenant_signed_and_the_operator_plain(
    receiver: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDGATE_ALERT_WEBHOOK_URL", f"{receiver.url}/ops")
    monkeypatch.setenv("VIDGATE_ALERT_INTERVAL", "0.1")
    monkeypatch.setenv("VIDGATE_WEBHOOK_RETRY_BASE", "0.1")
    monkeypatch.setenv("VIDGATE_SSRF_ALLOW", '["127.0.0.1"]')

    async def scenario() -> None:
        async with Engine(Settings(), worker=True) as engine:
            TenantBook(engine.database).ensure_tenant("default", webhook_url=f"{receiver.url}/t")
            BudgetBook(engine.database).set("default", None, {"monthly_usd": 2 * WORST})
            job = await engine.submit(small_request("[simulate:hang] a fox", duration=2))
            ours = await receiver.delivered(1, path="/ops", timeout=30)
            theirs = [
                d
                for d in await receiver.delivered(2, path="/t", timeout=30)
                if json.loads(d.body)["type"] == "budget.threshold"
            ]
            await engine.cancel(job.id)
            plain = json.loads(ours[0].body)
            assert plain["type"] == "budget.threshold" and "50%" in plain["text"]
            assert "webhook-signature" not in ours[0].headers
            [signed] = theirs
            assert signed.headers["webhook-signature"].startswith("v1,")
            event = json.loads(signed.body)
            assert event["data"]["threshold"] == 50 and event["data"]["limit"] == "monthly_usd"

    asyncio.run(scenario())
