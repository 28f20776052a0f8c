"""Tenants own their limits: ``vidgate tenants``, ``/v1/admin/tenants``, and ``keys create``
changing only the limits it is given."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import small_request
from vidgate.cli import app as cli
from vidgate.db import make_engine
from vidgate.engine import Engine
from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings

os.environ["COLUMNS"] = "250"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def limits(tenant: str) -> dict[str, Any]:
    code, stdout, stderr = run("tenants", "show", tenant, "--json")
    assert code == 0, stderr
    shown: dict[str, Any] = json.loads(stdout)
    return shown


# -- the CLI -------------------------------------------------------------------------------


def test_keys_create_changes_only_the_limit_it_is_given() -> None:
    code, _, stderr = run(
        "keys", "create", "--tenant", "acme", "--rate-limit", "60/min", "--max-concurrent", "4"
    )
    assert code == 0, stderr
    assert "rate 60/min, 4 at once" in stderr  # the tenant's limits, said after the key
    code, _, stderr = run("keys", "create", "--tenant", "acme", "--daily-videos", "500")
    assert code == 0, stderr
    assert "rate 60/min, 4 at once, 500 videos a day" in stderr
    code, _, _ = run("keys", "create", "--tenant", "acme")
    shown = limits("acme")
    assert shown["rate_limit"] == "60/min"
    assert shown["max_concurrent"] == 4
    assert shown["daily_videos"] == 500
    assert shown["active_keys"] == 3


def test_keys_create_json_reports_the_limits() -> None:
    code, stdout, _ = run("keys", "create", "--tenant", "j", "--deadline", "300", "--json")
    assert code == 0
    body = json.loads(stdout)
    assert body["limits"] == {
        "rate_limit": None,
        "max_concurrent": None,
        "daily_videos": None,
        "deadline_seconds": 300.0,
        "uncertain_submit": None,
        "default_priority": None,
        "strategies": {},
        "cache_similarity": None,
        "delivery_profile": None,
    }


def test_a_bad_limit_makes_no_key() -> None:
    code, _, stderr = run("keys", "create", "--tenant", "bad", "--rate-limit", "fast")
    assert code == 2 and "rate limits look like 60/min" in stderr
    code, stdout, _ = run("keys", "list", "--tenant", "bad", "--json")
    assert json.loads(stdout) == []


def test_tenants_set_show_list_and_none_clears() -> None:
    run("keys", "create", "--tenant", "acme", "--rate-limit", "10/s", "--daily-videos", "5")
    code, stdout, stderr = run("tenants", "set", "acme", "--rate-limit", "none", "--deadline", "90")
    assert code == 0, stderr
    assert "90 s" in stdout
    shown = limits("acme")
    assert shown["rate_limit"] is None  # cleared
    assert shown["daily_videos"] == 5  # untouched
    assert shown["deadline_seconds"] == 90.0
    code, stdout, _ = run("tenants", "list")
    assert code == 0 and "acme" in stdout and "90 s" in stdout
    code, stdout, _ = run("tenants", "list", "--json")
    assert [t["name"] for t in json.loads(stdout)] == ["acme"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--max-concurrent", "0"], "max_concurrent must be between 1"),
        (["--max-concurrent", "two"], "--max-concurrent takes a whole number or 'none'"),
        (["--daily-videos", "1.5"], "--daily-videos takes a whole number"),
        (["--deadline", "-3"], "deadline_seconds must be above 0"),
        (["--deadline", "nan"], "deadline_seconds must be above 0"),
        (["--rate-limit", "0/min"], "a rate limit counts 1 to"),
        (["--uncertain-submit", "retry"], "uncertain_submit is one of fallback, fail"),
        ([], "say which limit to change"),
    ],
)
def test_tenants_set_refuses_bad_values_with_exit_2(args: list[str], needle: str) -> None:
    run("keys", "create", "--tenant", "acme", "--daily-videos", "5")
    code, stdout, stderr = run("tenants", "set", "acme", *args)
    assert code == 2, stderr
    assert needle in stderr and "Traceback" not in stdout + stderr
    assert limits("acme")["daily_videos"] == 5


def test_the_uncertain_submit_policy_is_the_tenants_own() -> None:
    from vidgate.engine.store import JobStore

    run("keys", "create", "--tenant", "acme")
    code, stdout, stderr = run("tenants", "set", "acme", "--uncertain-submit", "fail")
    assert code == 0, stderr
    assert "fail" in stdout
    assert limits("acme")["uncertain_submit"] == "fail"
    # The engine reads the same column when it routes the tenant's jobs.
    settings = Settings()
    store = JobStore(make_engine(settings.resolved_database_url))
    assert store.uncertain_submit_policy("acme") == "fail"
    code, _, stderr = run("tenants", "set", "acme", "--uncertain-submit", "none")
    assert code == 0, stderr
    assert store.uncertain_submit_policy("acme") is None


def test_an_unknown_tenant_is_named() -> None:
    code, _, stderr = run("tenants", "show", "ghost")
    assert code == 2 and "error[not_found]: no tenant named 'ghost'" in stderr
    code, _, stderr = run("tenants", "set", "ghost", "--daily-videos", "3")
    assert code == 2 and "no tenant named 'ghost'" in stderr


# -- the admin API -------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[tuple[TestClient, TenantBook]]:
    app = create_app(Settings(), worker=False)
    book: TenantBook = app.state.gateway.tenants
    yield TestClient(app), book


def _headers(book: TenantBook, tenant: str, *, admin: bool) -> dict[str, str]:
    return {"Authorization": f"Bearer {book.create_key(tenant, admin=admin).secret}"}


def test_admin_tenants_list_show_and_patch(api: tuple[TestClient, TenantBook]) -> None:
    client, book = api
    ops = _headers(book, "ops", admin=True)
    book.ensure_tenant("acme")
    book.set_limits("acme", {"daily_videos": 500, "max_concurrent": 4})
    listed = client.get("/v1/admin/tenants", headers=ops)
    assert listed.status_code == 200
    assert {t["name"] for t in listed.json()["data"]} == {"acme", "ops"}
    patched = client.patch(
        "/v1/admin/tenants/acme",
        headers=ops,
        json={
            "rate_limit": "2/s",
            "max_concurrent": None,
            "deadline_seconds": 120,
            "uncertain_submit": "fallback",
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["object"] == "tenant" and body["name"] == "acme"
    assert body["rate_limit"] == "2/s"
    assert body["max_concurrent"] is None  # null cleared it
    assert body["daily_videos"] == 500  # not named: untouched
    assert body["deadline_seconds"] == 120
    assert body["uncertain_submit"] == "fallback"
    assert client.get("/v1/admin/tenants/acme", headers=ops).json() == body


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"max_concurrent": "4"}, "max_concurrent must be a whole number"),
        ({"max_concurrent": True}, "max_concurrent must be a whole number"),
        ({"daily_videos": 10**12}, "daily_videos must be between 1"),
        ({"deadline_seconds": 0}, "deadline_seconds must be above 0"),
        ({"deadline_seconds": 10**9}, "deadline_seconds must be above 0"),
        ({"rate_limit": 60}, "rate_limit must be text like '60/min'"),
        ({"rate_limit": "lots"}, "rate limits look like 60/min"),
        ({"webhook_secret": "mine"}, "unknown tenant fields ['webhook_secret']"),
        ({"uncertain_submit": "resubmit"}, "uncertain_submit is one of fallback, fail"),
        (["max_concurrent"], "the body must be a JSON object"),
    ],
)
def test_admin_patch_validates_every_field(
    api: tuple[TestClient, TenantBook], body: Any, needle: str
) -> None:
    client, book = api
    ops = _headers(book, "ops", admin=True)
    book.ensure_tenant("acme")
    book.set_limits("acme", {"daily_videos": 5})
    answer = (
        client.patch("/v1/admin/tenants/acme", headers=ops, json={"daily_videos": 9, **body})
        if isinstance(body, dict)
        else client.patch("/v1/admin/tenants/acme", headers=ops, json=body)
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and needle in error["message"]
    assert book.get_tenant("acme").daily_videos == 5, "nothing changes unless all is valid"


def test_admin_patch_refuses_a_body_that_is_not_json(api: tuple[TestClient, TenantBook]) -> None:
    client, book = api
    ops = _headers(book, "ops", admin=True)
    for content in (b"\xff\xfe{", b"[" * 100_000, b"not json"):
        answer = client.patch("/v1/admin/tenants/ops", headers=ops, content=content)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_request"


def test_admin_tenants_unknown_is_404_and_needs_an_admin_key(
    api: tuple[TestClient, TenantBook],
) -> None:
    client, book = api
    ops = _headers(book, "ops", admin=True)
    for answer in (
        client.get("/v1/admin/tenants/ghost", headers=ops),
        client.patch("/v1/admin/tenants/ghost", headers=ops, json={"daily_videos": 3}),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert "ghost" in answer.json()["error"]["message"]
    user = _headers(book, "acme", admin=False)
    assert client.get("/v1/admin/tenants", headers=user).status_code == 403
    assert client.patch("/v1/admin/tenants/acme", headers=user, json={}).status_code == 403
    assert client.get("/v1/admin/tenants").status_code == 401


# -- a tenant's deadline is applied --------------------------------------------------------


async def test_a_tenant_deadline_set_on_the_tenant_ends_its_jobs(settings: Settings) -> None:
    async with Engine(settings) as engine:
        book = TenantBook(engine.runtime.store.engine)
        book.ensure_tenant("acme")
        book.set_limits("acme", {"deadline_seconds": 0.5})
        job = await engine.submit(small_request("[simulate:hang] a fox"), tenant="acme")
        done = await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)
    assert done.error is not None and done.error.code == "timeout"
