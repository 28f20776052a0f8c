"""Priority and strategy end to end, through the library, the CLI and the HTTP API against the
provider simulator: ``cheapest`` runs on the cheapest capable model, ``fastest`` follows the
measured p50 of each model's attempts, a tenant's strategy per priority applies, the budget
reserves the dearest of the reordered chain, and the job shows the strategy and why each
candidate was ranked where it was."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.budget_support import ledger_rows
from tests.support import run_job, wait_until
from vidgate._clock import utcnow
from vidgate.cli import app as cli
from vidgate.engine import Engine
from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.simulator.server import RunningSimulator
from vidgate.types import AttemptStatus, Job, JobStatus, VideoRequest

os.environ["COLUMNS"] = "250"

KEYS = {
    "RUNWAYML_API_SECRET": "rw-test-secret-0123456789",
    "REPLICATE_API_TOKEN": "r8_test-token-0123456789abcdef",
    "FAL_KEY": "fal-key-id:fal-key-secret-0123456789",
    "LUMAAI_API_KEY": "test-luma-key",
}
#: For "a red fox", 2 s at 720p 16:9 with those keys, three models can: the cheapest, the one
#: of the premium tier (the quality strategy's first), and a dearer one.
CHEAPEST = "fal:fal-ai/bytedance/seedance/v1/pro/text-to-video"
BEST = "runway:gen4.5"
#: Rendering and validating take a while on a busy machine.
SLOW = 120.0


@pytest.fixture
def keyed(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    monkeypatch.setenv("VIDGATE_SIMULATOR_URL", simulator.url)
    monkeypatch.setenv("VIDGATE_FIGURES_TTL", "0")  # every admission reads the figures afresh
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return simulator


@pytest.fixture
async def engine(backend: str, keyed: RunningSimulator) -> AsyncIterator[Engine]:
    async with Engine(Settings()) as running:
        yield running


def fox(**fields: object) -> VideoRequest:
    return VideoRequest.model_validate({"prompt": "a red fox", "duration": 2, **fields})


def ran_on(job: Job) -> str:
    return f"{job.provider}:{job.model}"


# -- the library -------------------------------------------------------------------------------


async def test_standard_work_runs_on_the_cheapest_capable_model(engine: Engine) -> None:
    done = await run_job(engine, fox(), SLOW)
    assert done.status is JobStatus.COMPLETED, done.error
    routing = done.routing or {}
    assert routing["priority"] == "standard" and routing["strategy"] == "cheapest"
    assert routing["strategy_from"] == "cheapest for standard: the default (VIDGATE_STRATEGIES)"
    ranking = routing["ranking"]
    prices = [r["usd"] for r in ranking]
    assert prices == sorted(prices) and ranking[0]["model"] == CHEAPEST == ran_on(done)
    assert ranking[0]["why"] == f"#1: ${prices[0]:.2f}, the cheapest capable model"
    assert routing["candidates"] == [r["model"] for r in ranking]
    assert done.request.priority is not None and done.request.priority.value == "standard"


async def test_fastest_follows_the_measured_p50_of_each_model(engine: Engine) -> None:
    store = engine.runtime.store
    # Earlier finished attempts (the history the figures come from): the dearest model was
    # quick, the cheapest slow; a failure for the caller's mistake says nothing of speed.
    for n, (ref, seconds) in enumerate(
        [(BEST, 4.0), (BEST, 6.0), (BEST, 5.0), (CHEAPEST, 80.0), (CHEAPEST, 60.0)]
    ):
        job, _ = store.create_job(f"job_history{n}", fox(prompt=f"earlier {n}"))
        provider, model = ref.split(":")
        attempt = store.ensure_attempt(job.id, 1, provider, model)
        end = utcnow()
        store.update_attempt(
            attempt.id,
            status=AttemptStatus.SUCCEEDED.value,
            submitted_at=end - timedelta(seconds=seconds),
            finished_at=end,
        )
    done = await run_job(engine, fox(strategy="fastest"), SLOW)
    assert done.status is JobStatus.COMPLETED, done.error
    assert ran_on(done) == BEST
    ranking = (done.routing or {})["ranking"]
    assert [r["model"] for r in ranking[:2]] == [BEST, CHEAPEST]
    assert ranking[0]["why"] == "#1: p50 5.0 s over 3 recent successful runs"
    assert ranking[1]["why"] == "#2: p50 70.0 s over 2 recent successful runs"
    assert "no measured generation time yet" in ranking[2]["why"]
    assert (done.routing or {})["strategy_from"] == "fastest for standard: the request"


async def test_a_tenants_strategy_per_priority_applies(engine: Engine) -> None:
    book = TenantBook(engine.database)
    book.ensure_tenant("acme")
    book.set_limits("acme", {"default_priority": "critical", "strategies": {"critical": "quality"}})
    done = await run_job_for(engine, fox(), "acme")
    assert done.status is JobStatus.COMPLETED, done.error
    routing = done.routing or {}
    assert (routing["priority"], routing["strategy"]) == ("critical", "quality")
    assert routing["strategy_from"] == "quality for critical: the tenant's setting"
    assert ran_on(done) == BEST and routing["ranking"][0]["why"].startswith("#1: tier premium")
    # The budget holds the dearest of the chain the strategy ordered (not of routing's order).
    chain = [r["usd"] for r in routing["ranking"][: engine.settings.max_attempts]]
    [held] = [r for r in ledger_rows(engine.database, done.id) if r["kind"] == "reservation"]
    assert held["amount_usd"] == pytest.approx(max(chain))
    # The tenant's other priorities keep the gateway's defaults.
    _, plan = engine.resolve(fox(priority="standard"), tenant="acme")
    assert (plan.strategy, plan.first.ref) == ("cheapest", CHEAPEST)
    assert plan.strategy_from == "cheapest for standard: the default (VIDGATE_STRATEGIES)"


async def run_job_for(engine: Engine, request: VideoRequest, tenant: str) -> Job:
    job = await engine.submit(request, tenant=tenant)
    return await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=SLOW)


# -- the CLI -----------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_sets_a_tenants_strategies_and_estimate_and_generate_follow_them(
    keyed: RunningSimulator,
) -> None:
    assert run("keys", "create", "--tenant", "default")[0] == 0
    code, stdout, stderr = run(
        "tenants", "set", "default", "--strategy", "standard=quality", "--strategy",
        "batch=fastest", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert json.loads(stdout)["strategies"] == {"standard": "quality", "batch": "fastest"}
    code, stdout, _ = run("tenants", "set", "default", "--strategy", "batch=none", "--json")
    assert json.loads(stdout)["strategies"] == {"standard": "quality"}
    code, _, stderr = run("tenants", "set", "default", "--strategy", "batch=free")
    assert code == 2 and "unknown strategy 'free'" in stderr

    code, stdout, stderr = run("estimate", "a red fox", "--duration", "2", "--json")
    assert code == 0, stderr
    answer = json.loads(stdout)
    assert (answer["strategy"], answer["model"]) == ("quality", BEST)
    assert answer["strategy_from"] == "quality for standard: the tenant's setting"
    assert answer["ranking"][0] == {
        "model": BEST,
        "rank": 1,
        "usd": pytest.approx(0.24),
        "why": "#1: tier premium, ga, $0.24",
    }
    code, stdout, stderr = run("estimate", "a red fox", "--duration", "2", "--strategy", "cheapest")
    assert code == 0 and "strategy: cheapest for standard: the request" in stderr
    assert "the cheapest capable model" in stdout

    code, stdout, stderr = run(
        "generate", "a red fox", "--duration", "2", "--strategy", "cheapest", "--json"
    )
    assert code == 0, stderr
    job = json.loads(stdout)
    assert f"{job['provider']}:{job['model']}" == CHEAPEST
    code, shown, _ = run("jobs", "show", job["id"])
    assert code == 0 and "ranking: cheapest for standard: the request" in shown
    assert "the cheapest capable model" in shown and "priority" in shown


# -- the HTTP API ------------------------------------------------------------------------------


@pytest.fixture
def api(keyed: RunningSimulator) -> Iterator[tuple[TestClient, TenantBook]]:
    app = create_app(Settings())
    with TestClient(app) as client:
        yield client, app.state.gateway.tenants


def test_the_api_takes_priority_and_strategy_and_shows_the_ranking(
    api: tuple[TestClient, TenantBook],
) -> None:
    client, book = api
    ops = {"Authorization": f"Bearer {book.create_key('ops', admin=True).secret}"}
    acme = {"Authorization": f"Bearer {book.create_key('acme').secret}"}
    patched = client.patch(
        "/v1/admin/tenants/acme",
        headers=ops,
        json={"default_priority": "critical", "strategies": {"critical": "quality"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["strategies"] == {"critical": "quality"}
    bad = client.patch("/v1/admin/tenants/acme", headers=ops, json={"strategies": {"x": "y"}})
    assert bad.status_code == 400 and "unknown priority" in bad.json()["error"]["message"]

    body = {"prompt": "a red fox", "seconds": "2"}
    quoted = client.post("/v1/videos/estimate", headers=acme, json=body)
    assert quoted.status_code == 200, quoted.text
    estimate = quoted.json()
    assert (estimate["priority"], estimate["strategy"], estimate["model"]) == (
        "critical",
        "quality",
        BEST,
    )
    assert estimate["ranking"][0]["why"].startswith("#1: tier premium")

    made = client.post("/v1/videos", headers=acme, json={**body, "strategy": "cheapest"})
    assert made.status_code == 200, made.text
    video = made.json()
    assert (video["priority"], video["strategy"]) == ("critical", "cheapest")
    assert video["routing"]["strategy_from"] == "cheapest for critical: the request"
    assert video["routing"]["ranking"][0]["model"] == CHEAPEST

    def finished() -> dict[str, object] | None:
        seen: dict[str, object] = client.get(f"/v1/videos/{video['id']}", headers=acme).json()
        return seen if seen["status"] in ("completed", "failed") else None

    done = wait_until(finished, SLOW, interval=0.1, what="the job's end")
    assert done["status"] == "completed" and done["model"] == CHEAPEST
    refused = client.post("/v1/videos", headers=acme, json={**body, "priority": "urgent"})
    assert refused.status_code == 400 and "priority" in refused.json()["error"]["message"]
