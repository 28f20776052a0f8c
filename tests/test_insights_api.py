"""Windowed figures through the gateway, /metrics and the CLI: ``/v1/stats/providers`` and
``/v1/spend/series`` answer a tenant's key with its own tenant's numbers only and an admin's
with everyone's (or one tenant's); bad input is a 400 naming the choices (exit 2 on the CLI,
one line, no traceback); /metrics shows the last hour per model, cached between scrapes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.insights_support import Rows
from vidgate.cli import app as cli
from vidgate.db import make_engine, upgrade
from vidgate.engine import Engine
from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings

os.environ["COLUMNS"] = "250"
runner = CliRunner()
NOW = datetime(2026, 12, 10, 12, 30, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.fixture
def api() -> Iterator[tuple[TestClient, TenantBook, Engine, Rows]]:
    app = create_app(Settings(metrics_cache_seconds=3600), worker=False)
    gw = app.state.gateway
    gw.engine.clock = lambda: NOW
    yield TestClient(app), gw.tenants, gw.engine, Rows(gw.engine.database)


def _key(book: TenantBook, tenant: str, *, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {book.create_key(tenant, admin=admin).secret}"}


def _attempts(rows: Rows, now: datetime) -> None:
    """acme: two successes (20 s, 40 s) and a timeout on runway:gen4; beta: a failure on
    luma:ray2."""
    for seconds in (20, 40):
        job = rows.job(user="ann")
        rows.attempt(
            job,
            status="succeeded",
            submitted=now - 5 * M - timedelta(seconds=seconds),
            finished=now - 5 * M,
            cost=1.0,
        )
        rows.settle(job, now - 5 * M, user="ann")
    rows.attempt(
        rows.job(), status="failed", submitted=now - 9 * M, finished=now - M, code="timeout"
    )
    beta = rows.job(tenant="beta")
    rows.attempt(
        beta,
        status="failed",
        submitted=now - 9 * M,
        finished=now - M,
        provider="luma",
        model="ray2",
        code="content_rejected",
        cost=0.25,
    )
    rows.settle(beta, now - M, tenant="beta")


def test_provider_stats_route_a_tenant_sees_its_own(
    api: tuple[TestClient, TenantBook, Engine, Rows],
) -> None:
    client, book, _engine, rows = api
    ops, acme, beta = _key(book, "ops", admin=True), _key(book, "acme"), _key(book, "beta")
    _attempts(rows, NOW)
    own = client.get("/v1/stats/providers?window=hour", headers=acme)
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["object"] == "stats.providers" and body["tenant"] == "acme"
    assert body["window"]["name"] == "hour"
    assert body["window"]["end"] == NOW.isoformat()
    assert [(m["provider"], m["model"]) for m in body["data"]] == [("runway", "gen4")]
    gen4 = body["data"][0]
    assert (gen4["attempts"], gen4["succeeded"], gen4["failed"]) == (3, 2, 1)
    assert gen4["success_rate"] == 0.6667  # rounded to 4 places in JSON
    assert gen4["p50_seconds"] == pytest.approx(30.0)
    assert gen4["p95_seconds"] == pytest.approx(39.0)
    assert gen4["errors"] == [{"code": "timeout", "count": 1}]
    assert body["providers"][0]["model"] is None
    # beta's key never sees acme's figures, nor may it ask for them.
    theirs = client.get("/v1/stats/providers?window=hour", headers=beta).json()
    assert [m["model"] for m in theirs["data"]] == ["ray2"]
    refused = client.get("/v1/stats/providers?tenant=acme", headers=beta)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_request"
    everyone = client.get("/v1/stats/providers?window=day", headers=ops).json()
    assert everyone["tenant"] is None
    assert {m["provider"] for m in everyone["data"]} == {"runway", "luma"}
    one = client.get("/v1/stats/providers?window=week&tenant=beta", headers=ops).json()
    assert [m["provider"] for m in one["data"]] == ["luma"]
    bad = client.get("/v1/stats/providers?window=year", headers=acme)
    assert bad.status_code == 400
    assert "hour, day, week" in bad.json()["error"]["message"]
    assert client.get("/v1/stats/providers").status_code == 401
    # An hour later the window is empty.
    _engine.clock = lambda: NOW + timedelta(hours=2)
    assert client.get("/v1/stats/providers?window=hour", headers=acme).json()["data"] == []


def test_spend_series_route_a_tenant_sees_its_own(
    api: tuple[TestClient, TenantBook, Engine, Rows],
) -> None:
    client, book, _engine, rows = api
    ops, acme = _key(book, "ops", admin=True), _key(book, "acme")
    _attempts(rows, NOW)
    found = client.get("/v1/spend/series?by=user&window=day", headers=acme)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["object"] == "spend.series" and body["tenant"] == "acme"
    assert body["window"]["bucket"] == "hour" and len(body["buckets"]) == 24
    assert body["buckets"][-1] == "2026-12-10T12:00:00+00:00"
    assert body["series"] == [
        {"key": "ann", "usd": [0.0] * 23 + [2.0], "total_usd": 2.0, "jobs": 2}
    ]
    assert body["total_usd"] == 2.0
    assert body["month_to_date"]["usd"] == 2.0
    assert body["top_users"] == [{"key": "ann", "usd": 2.0, "jobs": 2}]
    assert body["top_templates"] == [{"key": "-", "usd": 2.0, "jobs": 2}]
    weekly = client.get("/v1/spend/series?window=week&bucket=day", headers=ops).json()
    assert weekly["tenant"] is None and len(weekly["buckets"]) == 7
    assert {s["key"]: s["total_usd"] for s in weekly["series"]} == {"runway": 2.0, "luma": 0.25}
    assert client.get("/v1/spend/series?tenant=beta", headers=acme).status_code == 400
    for query in ("by=colour", "window=hour", "bucket=minute", "top=0", "top=x"):
        answer = client.get(f"/v1/spend/series?{query}", headers=acme)
        assert answer.status_code == 400, query


def test_metrics_show_the_last_hour_per_model_cached_between_scrapes(
    api: tuple[TestClient, TenantBook, Engine, Rows],
) -> None:
    client, _book, _engine, rows = api
    _attempts(rows, NOW)
    metrics = client.get("/metrics").text
    gen4 = 'model="gen4",provider="runway",window="1h"'
    assert f"vidgate_window_success_ratio{{{gen4}}} 0.666" in metrics
    seconds = 'vidgate_window_generation_seconds{model="gen4",provider="runway",quantile='
    assert f'{seconds}"0.5",window="1h"}} 30.0' in metrics
    assert f'{seconds}"0.95",window="1h"}} 39.0' in metrics
    attempts = 'vidgate_window_attempts{model="gen4",provider="runway",status='
    assert f'{attempts}"failed",window="1h"}} 1.0' in metrics
    assert 'vidgate_window_success_ratio{model="ray2",provider="luma",window="1h"} 0.0' in metrics
    # Another success inside the cache's lifetime: the next scrape answers from the cache.
    job = rows.job()
    rows.attempt(job, status="succeeded", submitted=NOW - 2 * M, finished=NOW - M)
    again = client.get("/metrics").text
    assert f'{attempts}"succeeded",window="1h"}} 2.0' in again


# -- the CLI ------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli_rows() -> Iterator[Rows]:
    settings = Settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    yield Rows(engine)
    engine.dispose()


def test_cli_stats_providers_table_json_and_a_bad_window(cli_rows: Rows) -> None:
    _attempts(cli_rows, datetime.now(UTC))
    code, stdout, stderr = run("stats", "providers")
    assert code == 0, stderr
    assert "runway" in stdout and "gen4" in stdout and "67%" in stdout and "timeout x1" in stdout
    assert "30.0s" in stdout and "39.0s" in stdout
    code, stdout, _ = run("stats", "providers", "--window", "hour", "--tenant", "beta", "--json")
    assert code == 0
    body = json.loads(stdout)
    assert [m["model"] for m in body["data"]] == ["ray2"]
    code, stdout, stderr = run("stats", "providers", "--window", "fortnight")
    assert code == 2 and stdout == ""
    assert stderr.strip() == (
        "error[invalid_request]: window is one of hour, day, week, not 'fortnight'"
    )


def test_cli_spend_series(cli_rows: Rows) -> None:
    _attempts(cli_rows, datetime.now(UTC))
    code, stdout, stderr = run("spend", "--series", "week", "--by", "user", "--json")
    assert code == 0, stderr
    body = json.loads(stdout)
    assert body["window"]["bucket"] == "day" and len(body["buckets"]) == 7
    assert {s["key"]: s["total_usd"] for s in body["series"]} == {"ann": 2.0, "-": 0.25}
    code, stdout, stderr = run("spend", "--series", "day", "--tenant", "acme")
    assert code == 0, stderr
    assert "ann" not in stdout.split("\n")[0]  # the title; the user is a column below
    assert "month to date" in stdout and "top users: ann $2.0000" in stdout
    code, _, stderr = run("spend", "--series", "year")
    assert code == 2 and "window is one of day, week, month" in stderr
    code, _, stderr = run("spend", "--series", "day", "--since", "2026-01-01")
    assert code == 2 and "no --since" in stderr
