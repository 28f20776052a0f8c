"""Estimates before anything is spent: ``vidgate estimate`` and ``POST /v1/videos/estimate``
price the request on every capable model (basis and status), say why the others cannot, project
a volume per day or month, and always answer what create would do with the same request."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from vidgate.accounting.estimates import project
from vidgate.cli import app
from vidgate.engine import Engine
from vidgate.server.app import create_app
from vidgate.settings import Settings
from vidgate.types import VideoRequest


def test_a_projection_per_day_and_per_month() -> None:
    daily = project(0.6, 100, "day")
    assert (daily.usd_per_day, daily.usd_per_month) == (60.0, 1800.0)
    monthly = project(0.6, 300, "month")
    assert (monthly.usd_per_day, monthly.usd_per_month) == (6.0, 180.0)
    with pytest.raises(ValueError):
        project(0.6, -1, "day")


def test_the_cli_prices_every_capable_model_and_says_why_not_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNWAYML_API_SECRET", "rw-test-secret-0123456789")
    result = CliRunner().invoke(
        app,
        ["estimate", "a fox", "--provider", "runway", "--count", "200", "--per", "day", "--json"],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    rows = {r["model"]: r for r in answer["estimates"]}
    chosen = [r for r in answer["estimates"] if r["chosen"]]
    assert [r["model"] for r in chosen] == [answer["model"]] == ["runway:gen4.5"]
    gen45 = rows["runway:gen4.5"]
    assert (gen45["usd"], gen45["basis"], gen45["status"]) == (0.6, "estimated", "confirmed")
    assert gen45["source"] and gen45["as_of"]
    # Capable elsewhere but not routed (the request names runway), with its price all the same.
    assert rows["luma:ray-2"]["usable"] is False and rows["luma:ray-2"]["usd"] is not None
    # Not capable: why, in the catalogue's words.
    assert rows["fal:fal-ai/veo3.1"]["reason"].startswith("cannot: duration 5 s is not offered")
    assert answer["projection"] == {
        "count": 200,
        "per": "day",
        "usd_each": 0.6,
        "usd_per_day": 120.0,
        "usd_per_month": 3600.0,
    }
    table = CliRunner().invoke(app, ["estimate", "a fox", "--provider", "runway", "--count", "3"])
    assert table.exit_code == 0, table.output
    assert "runway:gen4.5 (chosen)" in table.output and "a month" in table.output


def test_the_api_prices_every_model_and_projects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNWAYML_API_SECRET", "rw-test-secret-0123456789")
    application = create_app(Settings(), worker=True)
    key = application.state.gateway.tenants.create_key("acme").secret
    # No duration: veo3.1 on Runway offers 4, 6, 8 s; the shortest at or above 5 s is picked.
    body = {"prompt": "a fox", "model": "runway:veo3.1"}
    with TestClient(application, headers={"Authorization": f"Bearer {key}"}) as client:
        answered = client.post("/v1/videos/estimate?count=30&per=month", json=body)
        assert answered.status_code == 200, answered.text
        estimate = answered.json()
        assert estimate["duration"] == 6
        assert "6 s, the shortest runway:veo3.1 offers at or above 5 s" in estimate["notice"]
        assert estimate["quote"]["status"] == "confirmed"
        first = estimate["estimates"][0]
        assert first["model"] == "runway:veo3.1" and first["chosen"]
        assert estimate["projection"]["usd_per_month"] == pytest.approx(30 * first["usd"])
        bad = client.post("/v1/videos/estimate?count=-1", json=body)
        assert bad.status_code == 400


async def test_the_picked_duration_follows_the_setting_and_is_in_the_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNWAYML_API_SECRET", "rw-test-secret-0123456789")
    monkeypatch.setenv("VIDGATE_DEFAULT_DURATION", "7")
    engine = Engine(Settings())
    try:
        # runway:veo3.1 offers 4, 6 and 8 s: at or above 7 s, the shortest is 8 s.
        job = engine.enqueue(VideoRequest(prompt="a fox", model="runway:veo3.1"))
        assert job.request.duration == 8
        first = engine.events(job.id)[0].message
        assert first.startswith("job created; no duration was set: 8 s, the shortest")
        # A duration the caller chose is kept as it is.
        chosen = engine.enqueue(VideoRequest(prompt="a fox", model="runway:veo3.1", duration=4))
        assert chosen.request.duration == 4
        assert engine.events(chosen.id)[0].message == "job created"
    finally:
        await engine.close()
