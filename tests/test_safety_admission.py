"""Content safety end to end: a refused prompt never reaches a provider and nothing is reserved;
a flagged one runs marked; per-tenant policy through the API and the CLI; the OpenAI moderation
twin in the chain; provider refusals fall back or fail per policy; every decision audited."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from tests.budget_support import ledger_rows
from tests.conftest import small_request
from vidgate.cli import app as cli
from vidgate.engine import Engine
from vidgate.exceptions import ContentBlocked, ModerationUnavailable, PromptInvalid
from vidgate.media.synth import MARKER_RGB
from vidgate.providers.simulated import created
from vidgate.safety import audit
from vidgate.server import create_app
from vidgate.server.tenancy import TenantBook
from vidgate.settings import Settings
from vidgate.types import Job, JobStatus, VideoRequest

os.environ["COLUMNS"] = "250"


async def run(engine: Engine, request: VideoRequest, tenant: str = "default") -> Job:
    job = await engine.submit(request, tenant=tenant)
    return await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)


async def test_a_blocked_prompt_reaches_no_provider_and_reserves_nothing(
    settings: Settings,
) -> None:
    async with Engine(settings) as engine:
        for prompt in ("hardcore p0rn clip", "\u0440\u043ern star on a beach", "a m-o-l-o-t-o-v"):
            with pytest.raises(ContentBlocked) as refused:
                await engine.submit(small_request(prompt))
            assert refused.value.http_status == 422
            assert "p0rn" not in refused.value.message and "star" not in refused.value.message
        with pytest.raises(PromptInvalid) as invalid:
            await engine.submit(small_request("a fox --ar 9:16"))
        assert invalid.value.details["reason"] == "provider_syntax"
        assert created(settings.resolved_home) == []
        assert ledger_rows(engine.database) == []
        rows = audit.query(engine.database, stage="prompt", action="block")
        assert [r.job_id for r in rows] == [None, None, None]
        assert {c for r in rows for c in r.categories} == {"sexual", "weapons"}
        assert all("p0rn" not in (r.detail or "") for r in rows)
        # An innocent look-alike runs; its allow decision is audited against the job.
        job = await run(engine, small_request("a cocktail party in Scunthorpe"))
        assert job.status is JobStatus.COMPLETED, job.error
        assert job.moderation is not None and job.moderation.action == "allow"
        # (stage "prompt": the job's output scan is audited too, at stage "output")
        [row] = audit.query(engine.database, job_id=job.id, stage="prompt")
        assert (row.stage, row.action, row.moderator) == ("prompt", "allow", "rules")


async def test_flag_runs_the_job_and_marks_it(settings: Settings) -> None:
    settings.safety_policy = json.dumps({"actions": {"violence": "flag"}})
    async with Engine(settings) as engine:
        job = await run(engine, small_request("a knight is b3headed in a movie"))
        assert job.status is JobStatus.COMPLETED, job.error
        assert job.moderation is not None
        assert (job.moderation.action, job.moderation.categories) == ("flag", ["violence"])
        [row] = audit.query(engine.database, job_id=job.id, action="flag")
        assert row.categories == ("violence",) and row.policy["actions"]["violence"] == "flag"
        assert row.id == job.moderation.decision_id


async def test_the_openai_moderator_in_the_chain(
    settings: Settings, simulator: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-moderation")
    settings.simulator_url = simulator.url
    settings.moderation = "rules,openai"
    settings.moderation_timeout = 0.5
    async with Engine(settings) as engine:
        with pytest.raises(ContentBlocked) as refused:
            await engine.submit(small_request("a bloodshed on the battlefield", model="simulated"))
        assert refused.value.categories == ("violence",)
        job = await run(engine, small_request("a red fox in snow", model="simulated"))
        assert job.status is JobStatus.COMPLETED
        assert job.moderation is not None and job.moderation.moderators == ["rules", "openai"]
        # The moderation API fails and no other moderator covers what the policy blocks:
        # closed by default.
        settings.moderation = "openai"
        engine._safety = None  # the chain is built from the settings on first use
        with pytest.raises(ModerationUnavailable):
            await engine.submit(small_request("a red fox [sim:500-create]", model="simulated"))
        settings.moderation_on_error = "open"
        engine._safety = None
        job = await engine.submit(small_request("a red fox [sim:hang]", model="simulated"))
        assert job.moderation is not None and job.moderation.unchecked == ["openai"]
        [row] = audit.query(engine.database, job_id=job.id, stage="prompt")
        assert "failed, not checked: openai" in (row.detail or "")
        await asyncio.wait_for(engine.wait(job.id, interval=0.02), timeout=60)
    assert len(created(settings.resolved_home)) == 2
    stats = httpx.get(simulator.url + "/_simulator/stats").json()
    assert stats["requests"]["openai moderations"] == 4
    assert "sk-test-moderation" not in json.dumps(stats)


@pytest.mark.parametrize("choice", ["fallback", "fail"])
async def test_a_provider_refusal_falls_back_or_fails_per_policy(
    settings: Settings, choice: str
) -> None:
    settings.safety_policy = json.dumps({"on_provider_refusal": choice})
    async with Engine(settings) as engine:
        job = await run(engine, small_request("[simulate:moderation@1] a fox"))
        events = [e.message for e in engine.events(job.id)]
        [row] = audit.query(engine.database, job_id=job.id, stage="provider")
    if choice == "fallback":
        assert job.status is JobStatus.COMPLETED and len(job.attempts) == 2
        assert any("refused the content (input refused, not charged): trying" in e for e in events)
    else:
        assert job.status is JobStatus.FAILED and len(job.attempts) == 1
        assert job.error is not None and job.error.code == "content_rejected"
        assert any("the job fails (on_provider_refusal = fail)" in e for e in events)
    assert (row.moderator, row.action) == ("simulated", "block")


# -- the gateway and the CLI ------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[tuple[TestClient, TenantBook]]:
    app = create_app(Settings(), worker=False)
    book: TenantBook = app.state.gateway.tenants
    with TestClient(app) as client:
        yield client, book


def _key(book: TenantBook, tenant: str, *, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {book.create_key(tenant, admin=admin).secret}"}


def test_policy_per_tenant_through_the_api(api: tuple[TestClient, TenantBook]) -> None:
    client, book = api
    ops, acme, other = _key(book, "ops", admin=True), _key(book, "acme"), _key(book, "other")
    body = {"prompt": "a knight is beheaded", "seconds": "4", "model": "simulated"}
    refused = client.post("/v1/videos", headers=acme, json=body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "content_rejected" and error["details"]["categories"] == ["violence"]
    assert "behead" not in refused.text
    patched = client.patch(
        "/v1/admin/tenants/acme",
        headers=ops,
        json={"safety_policy": {"actions": {"violence": "flag"}}, "daily_videos": 50},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["safety_policy"]["actions"]["violence"] == "flag"
    assert patched.json()["daily_videos"] == 50
    made = client.post("/v1/videos", headers=acme, json=body)
    assert made.status_code == 200, made.text
    assert made.json()["moderation"]["action"] == "flag"
    assert client.post("/v1/videos", headers=other, json=body).status_code == 422
    bad = client.patch(
        "/v1/admin/tenants/acme",
        headers=ops,
        json={"safety_policy": {"actions": {"violence": "maybe"}}, "daily_videos": 7},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "safety_policy_invalid"
    assert client.get("/v1/admin/tenants/acme", headers=ops).json()["daily_videos"] == 50
    invalid = client.post("/v1/videos", headers=acme, json={**body, "prompt": "a fox\u200b"})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["details"]["reason"] == "invisible_characters"
    decisions = client.get(
        "/v1/admin/safety/decisions", headers=ops, params={"tenant": "acme", "stage": "prompt"}
    ).json()["data"]
    assert [d["action"] for d in decisions] == ["flag", "block"]
    job_id = made.json()["id"]
    mine = client.get(
        "/v1/admin/safety/decisions", headers=ops, params={"job": job_id, "stage": "prompt"}
    )
    assert [d["job_id"] for d in mine.json()["data"]] == [job_id]
    assert client.get("/v1/admin/safety/decisions", headers=acme).status_code == 403
    stage = client.get("/v1/admin/safety/decisions", headers=ops, params={"stage": "x"})
    assert stage.status_code == 400


def test_policy_and_decisions_through_the_cli() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "create", "--tenant", "acme"]).exit_code == 0
    done = runner.invoke(
        cli,
        ["tenants", "set", "acme", "--safety", "violence=flag", "--safety",
         "on_provider_refusal=fail", "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    policy = json.loads(done.stdout)["safety_policy"]
    assert policy["actions"]["violence"] == "flag" and policy["on_provider_refusal"] == "fail"
    bad = runner.invoke(cli, ["tenants", "set", "acme", "--safety", "violence=sometimes"])
    assert bad.exit_code == 2 and "safety_policy_invalid" in bad.stderr
    refused = runner.invoke(cli, ["generate", "hardcore p0rn", "--model", "simulated"])
    assert refused.exit_code == 2 and "content_rejected" in refused.stderr
    invalid = runner.invoke(cli, ["generate", "a fox --seed 7", "--model", "simulated"])
    assert invalid.exit_code == 2 and "prompt_invalid" in invalid.stderr
    shown = runner.invoke(cli, ["safety", "decisions", "--json"])
    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.stdout)
    assert (row["action"], row["categories"], row["job_id"]) == ("block", ["sexual"], None)
    cleared = runner.invoke(cli, ["tenants", "set", "acme", "--safety", "none", "--json"])
    assert json.loads(cleared.stdout)["safety_policy"]["actions"]["violence"] == "block"


@pytest.mark.parametrize("choice", ["fallback", "fail"])
async def test_runways_safety_refusal_through_its_real_adapter(
    settings: Settings, simulator: object, monkeypatch: pytest.MonkeyPatch, choice: str
) -> None:
    monkeypatch.setenv("VIDGATE_RUNWAY_BASE_URL", simulator.url + "/runway")
    monkeypatch.setenv("RUNWAYML_API_SECRET", "key_" + "0" * 60)
    settings.safety_policy = json.dumps({"on_provider_refusal": choice})
    request = VideoRequest(
        prompt="[sim:moderation] a red fox", duration=2, providers=("runway", "simulated")
    )
    async with Engine(settings) as engine:
        submitted = await engine.submit(request)

        async def second_attempt_or_end() -> Job:
            async for seen in engine.watch(submitted.id, interval=0.05):
                if len(seen.attempts) == 2 or seen.done:
                    return seen
            return engine.get(submitted.id)

        job = await asyncio.wait_for(second_attempt_or_end(), timeout=60)
        if not job.done:
            await engine.cancel(job.id)  # the fallback's own rendering is not the point here
        [row] = audit.query(engine.database, job_id=job.id, stage="provider")
    first = job.attempts[0]
    assert first.provider == "runway" and first.error is not None
    assert first.error.code == "content_rejected"
    assert first.error.details["provider_code"] == "SAFETY.INPUT.TEXT"
    assert row.moderator == "runway" and "input refused, charged" in (row.detail or "")
    if choice == "fallback":
        assert [a.provider for a in job.attempts] == ["runway", "simulated"]
    else:
        assert job.status is JobStatus.FAILED and len(job.attempts) == 1


async def test_an_input_image_is_scanned_before_anything_is_spent(
    settings: Settings, tmp_path: Path
) -> None:
    # The suite's scanner is the marker scanner (conftest): an image carrying the marker is
    # refused at admission like a blocked prompt; a plain one runs, its decision on the job.
    marked, plain = tmp_path / "marked.png", tmp_path / "plain.png"
    image = Image.new("RGB", (320, 180), (40, 90, 160))
    image.save(plain)
    image.paste(MARKER_RGB, (80, 40, 240, 140))
    image.save(marked)
    async with Engine(settings) as engine:
        with pytest.raises(ContentBlocked) as refused:
            await engine.submit(small_request("a fox", image=str(marked)))
        assert refused.value.http_status == 422
        assert created(settings.resolved_home) == []
        assert ledger_rows(engine.database) == []
        [row] = audit.query(engine.database, stage="input_image")
        assert (row.job_id, row.action, row.categories) == (None, "block", ("sexual",))
        job = await run(engine, small_request("a fox", image=str(plain)))
        assert job.status is JobStatus.COMPLETED, job.error
        assert job.moderation is not None and job.moderation.action == "allow"
