"""Budgets, quotas and spend through the gateway and the CLI: a create over a budget is a 402
``budget_exceeded`` with the facts, over a quota a 429 ``quota_exceeded`` with when it resets;
the CLI exits 2 with the same facts; ``/v1/admin/budgets`` and ``vidgate budgets`` set and show
them; ``/v1/spend`` and ``vidgate spend`` report what the ledger settled."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.budget_support import FALLBACK_PER_SECOND, priced_catalog
from tests.conftest import small_request
from vidgate.accounting import BudgetBook, true_up
from vidgate.accounting.periods import period_of
from vidgate.cli import app as cli
from vidgate.engine import Engine
from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.types import JobStatus

os.environ["COLUMNS"] = "250"
runner = CliRunner()
BODY = {"prompt": "a fox", "duration": 2, "resolution": "360p"}
WORST = 2 * FALLBACK_PER_SECOND


@pytest.fixture(autouse=True)
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    priced_catalog(tmp_path / "catalog", monkeypatch)


@pytest.fixture
def api() -> Iterator[tuple[TestClient, TenantBook, Engine]]:
    app = create_app(Settings(), worker=False)
    gw = app.state.gateway
    yield TestClient(app), gw.tenants, gw.engine


def _key(book: TenantBook, tenant: str, *, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {book.create_key(tenant, admin=admin).secret}"}


def _settle(engine: Engine, job_id: str, usd: float) -> None:
    """End a job the way the workflow does: its attempt charged ``usd``, then finished."""
    store = engine.runtime.store
    attempt = store.ensure_attempt(job_id, 1, "simulated", "synth-1")
    store.update_attempt(attempt.id, cost_usd=usd, status="succeeded")
    store.finish(job_id, JobStatus.COMPLETED, "completed", provider="simulated", model="synth-1")


def test_a_create_over_budget_is_a_402_with_the_facts(
    api: tuple[TestClient, TenantBook, Engine],
) -> None:
    client, book, engine = api
    acme = _key(book, "acme")
    BudgetBook(engine.database).set("acme", None, {"daily_usd": 2 * WORST})
    first = client.post("/v1/videos", headers=acme, json={**BODY, "user": "ann"})
    assert first.status_code == 200, first.text
    assert first.json()["user"] == "ann"
    _settle(engine, first.json()["id"], 0.2)
    assert client.post("/v1/videos", headers=acme, json=BODY).status_code == 200
    refused = client.post("/v1/videos", headers=acme, json=BODY)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    facts = error["details"]
    assert facts["tenant"] == "acme" and facts["limit"] == "daily_usd"
    assert facts["allowed"] == pytest.approx(2 * WORST)
    assert facts["used"] == pytest.approx(0.2) and facts["reserved"] == pytest.approx(WORST)
    assert facts["requested"] == pytest.approx(WORST)
    tomorrow = period_of("day", datetime.now(UTC)).end
    assert facts["resets_at"] == tomorrow.isoformat()
    assert "resets at" in error["message"]
    # Another tenant has no budget: nothing refuses it.
    assert client.post("/v1/videos", headers=_key(book, "beta"), json=BODY).status_code == 200


def test_a_create_over_quota_is_a_429_with_when_it_resets(
    api: tuple[TestClient, TenantBook, Engine],
) -> None:
    client, book, engine = api
    acme = _key(book, "acme")
    BudgetBook(engine.database).set("acme", "ann", {"daily_videos": 1})
    assert client.post("/v1/videos", headers=acme, json={**BODY, "user": "ann"}).is_success
    refused = client.post("/v1/videos", headers=acme, json={**BODY, "user": "ann"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["user"] == "ann" and error["details"]["limit"] == "daily_videos"
    assert error["details"]["resets_at"]
    assert client.post("/v1/videos", headers=acme, json={**BODY, "user": "bob"}).is_success
    bad = client.post("/v1/videos", headers=acme, json={**BODY, "user": "no spaces please"})
    assert bad.status_code == 400


def test_admin_budgets_put_get_delete(api: tuple[TestClient, TenantBook, Engine]) -> None:
    client, book, _ = api
    ops, acme = _key(book, "ops", admin=True), _key(book, "acme")
    put = client.put(
        "/v1/admin/budgets/acme",
        headers=ops,
        json={"daily_usd": 10, "monthly_videos": 1} | {"monthly_usd": 100},
    )
    assert put.status_code == 400 and "monthly_videos" in put.json()["error"]["message"]
    put = client.put(
        "/v1/admin/budgets/acme",
        headers=ops,
        json={"daily_usd": 10, "monthly_usd": 100, "timezone": "America/New_York"},
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["daily_usd"] == 10 and body["timezone"] == "America/New_York"
    day = next(s for s in body["standing"] if s["limit"] == "daily_usd")
    assert day["resets_at"].endswith(("04:00:00+00:00", "05:00:00+00:00"))  # New York midnight
    user = client.put("/v1/admin/budgets/acme?user=ann", headers=ops, json={"daily_videos": 3})
    assert user.status_code == 200 and user.json()["user"] == "ann"
    # A PUT replaces: what it leaves out is no longer a limit.
    again = client.put("/v1/admin/budgets/acme", headers=ops, json={"monthly_usd": 50})
    assert again.json()["daily_usd"] is None and again.json()["timezone"] == "UTC"
    listed = client.get("/v1/admin/budgets?tenant=acme", headers=ops).json()["data"]
    assert [(b["tenant"], b["user"]) for b in listed] == [("acme", None), ("acme", "ann")]
    assert client.get("/v1/admin/budgets", headers=acme).status_code == 403
    assert client.delete("/v1/admin/budgets/acme?user=ann", headers=ops).status_code == 200
    assert client.get("/v1/admin/budgets/acme?user=ann", headers=ops).status_code == 404


def test_spend_report_a_tenant_sees_its_own(api: tuple[TestClient, TenantBook, Engine]) -> None:
    client, book, engine = api
    ops, acme, beta = _key(book, "ops", admin=True), _key(book, "acme"), _key(book, "beta")
    for headers, user, usd in ((acme, "ann", 0.2), (acme, "bob", 0.3), (beta, None, 1.0)):
        body = {**BODY, "user": user} if user else BODY
        _settle(engine, client.post("/v1/videos", headers=headers, json=body).json()["id"], usd)
    client.post("/v1/videos", headers=acme, json=BODY)  # reserved, not spent
    own = client.get("/v1/spend?by=user", headers=acme).json()
    assert own["tenant"] == "acme" and own["total_usd"] == pytest.approx(0.5)
    assert [(x["user"], x["usd"]) for x in own["data"]] == [("bob", 0.3), ("ann", 0.2)]
    assert client.get("/v1/spend?tenant=beta", headers=acme).status_code == 400
    everyone = client.get("/v1/spend?by=tenant", headers=ops).json()
    assert {x["tenant"]: x["usd"] for x in everyone["data"]} == {"acme": 0.5, "beta": 1.0}
    by_model = client.get("/v1/spend?by=model&since=2020-01-01", headers=acme).json()
    assert by_model["data"] == [{"model": "simulated:synth-1", "usd": 0.5, "jobs": 2}]
    future = client.get("/v1/spend?since=2999-01-01", headers=acme).json()
    assert future["total_usd"] == 0
    assert client.get("/v1/spend?by=colour", headers=acme).status_code == 400
    assert client.get("/v1/spend?since=yesterday", headers=acme).status_code == 400
    # Prometheus reads the same ledger: charged money, held money, and how budgets stand.
    BudgetBook(engine.database).set("acme", None, {"daily_usd": 2.0})
    metrics = client.get("/metrics").text
    assert (
        'vidgate_ledger_spend_usd_total{model="synth-1",provider="simulated",tenant="acme"} 0.5'
        in metrics
    )
    assert 'vidgate_spend_usd_total{provider="simulated"} 1.5' in metrics
    assert f'vidgate_reserved_usd{{tenant="acme"}} {WORST}' in metrics
    ratio = (0.5 + WORST) / 2.0
    labels = 'limit="daily_usd",tenant="acme",user=""'
    assert f"vidgate_budget_used_ratio{{{labels}}} {ratio}" in metrics


# -- the CLI ------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_budgets_set_show_and_a_refusal_exits_2_with_the_facts() -> None:
    code, stdout, stderr = run("budgets", "set", "--daily", str(WORST + 0.01), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)[0]["daily_usd"] == pytest.approx(WORST + 0.01)
    code, _, stderr = run("budgets", "set", "--user", "ann", "--monthly-seconds", "10")
    assert code == 0, stderr
    code, stdout, _ = run("budgets", "show")
    assert code == 0 and "daily_usd" in stdout and "monthly_seconds" in stdout and "ann" in stdout
    code, _, stderr = run("generate", "a fox", "-d", "2", "--resolution", "360p", "--detach")
    assert code == 0, stderr
    code, _, stderr = run(
        "generate", "a heron", "-d", "2", "--resolution", "360p", "--detach", "--user", "ann"
    )
    assert code == 2
    assert "error[budget_exceeded]" in stderr
    assert "$0.60" in stderr and "reserved" in stderr and "resets at" in stderr
    code, _, stderr = run("budgets", "set", "--daily", "none", "--timezone", "Nowhere/Land")
    assert code == 2 and "unknown time zone" in stderr
    code, _, stderr = run("budgets", "set", "--daily", "none")
    assert code == 0, stderr
    code, _, stderr = run(
        "generate", "a heron", "-d", "20", "--resolution", "360p", "--detach", "--user", "ann"
    )
    assert code == 2 and "error[quota_exceeded]" in stderr and "seconds of output" in stderr
    code, _, stderr = run("budgets", "delete", "--user", "ann")
    assert code == 0, stderr
    code, _, stderr = run("budgets", "delete", "--user", "ann")
    assert code == 2 and "no budget" in stderr


def test_cli_spend_reports_the_ledger() -> None:
    engine = Engine(Settings())
    for user, usd in (("ann", 0.2), ("ann", 0.1), ("bob", 0.4)):
        job = engine.enqueue(small_request(duration=2, user=user))
        _settle(engine, job.id, usd)
    code, stdout, stderr = run("spend", "--by", "user", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["total_usd"] == pytest.approx(0.7)
    assert report["data"] == [
        {"user": "bob", "usd": 0.4, "jobs": 1},
        {"user": "ann", "usd": pytest.approx(0.3), "jobs": 2},
    ]
    code, stdout, _ = run("spend", "--user", "ann", "--by", "day")
    assert code == 0 and datetime.now(UTC).date().isoformat() in stdout and "$0.3000" in stdout
    code, _, stderr = run("spend", "--by", "colour")
    assert code == 2 and "grouped by one of" in stderr


def test_a_charge_learned_after_the_end_is_an_adjustment_once() -> None:
    engine = Engine(Settings())
    job = engine.enqueue(small_request(duration=2, user="ann"))
    _settle(engine, job.id, 0.2)
    store = engine.runtime.store
    # The provider billed more, learned later (what reconciliation writes, in one transaction).
    assert store.settle_late_charge(f"{job.id}-1", job.id, cost_usd=0.25) == pytest.approx(0.05)
    assert store.get(job.id).cost_usd == pytest.approx(0.25)
    with engine.database.begin() as conn:
        assert true_up(conn, job.id) == 0.0, "the ledger agrees now"
    assert store.settle_late_charge(f"{job.id}-1", job.id, cost_usd=0.25) == 0.0
    code, stdout, _ = run("spend", "--user", "ann", "--json")
    assert code == 0 and json.loads(stdout)["total_usd"] == pytest.approx(0.25)
