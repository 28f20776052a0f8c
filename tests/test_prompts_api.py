"""Structured prompts and templates through the HTTP API: create and estimate
with a prompt object, a template and its variables, the linter's hints, ``/v1/templates``
(versions, per-tenant isolation), and the error bodies that name a bad variable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.test_gateway import Server, running_gateway, wait_done

SMALL = {"duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}
PARTS = {
    "subject": "a paper boat",
    "action": "drifts down a rainy street",
    "camera": "low tracking shot",
    "lighting": "neon reflections at night",
    "style": "cinematic",
    "negative": "people, text",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(tmp_path_factory.mktemp("prompts-gateway")) as server:
        yield server


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_structured_prompt_runs_and_the_job_records_what_was_sent(gateway: Server) -> None:
    with gateway.client(gateway.key("parts")) as client:
        created = client.post("/v1/videos", json={"prompt": PARTS, **SMALL})
        assert created.status_code == 200, created.text
        video = wait_done(client, created.json()["id"])
    assert video["status"] == "completed", video["error"]
    assert video["prompt"].startswith("A paper boat drifts down a rainy street. Camera: low")
    assert video["prompt_parts"]["camera"] == "low tracking shot"
    assert video["negative_prompt"] == "people, text"
    [attempt] = video["attempts"]
    assert attempt["prompt_sent"] == {
        "prompt": video["prompt"],
        "negative_prompt": "people, text",
        "negative": "field",  # the simulated provider has a negative-prompt field
        "warnings": [],
    }
    assert video["hints"] == []  # camera and light are there, nothing conflicts


def test_estimate_shows_the_linters_hints(gateway: Server) -> None:
    with gateway.client(gateway.key("lint")) as client:
        bare = client.post("/v1/videos/estimate", json={"prompt": "a paper boat"}).json()
        conflict = client.post(
            "/v1/videos/estimate",
            json={"prompt": {**PARTS, "camera": "static shot, slow pan"}},
        ).json()
        long = client.post(
            "/v1/videos/estimate",
            json={
                "prompt": {
                    "subject": "a boat " * 280,
                    "action": "drifts " * 250,
                    **{p: "x " * 240 for p in ("camera", "lighting", "atmosphere", "style")},
                }
            },
        ).json()
    assert [h["code"] for h in bare["hints"]] == ["no_camera", "no_lighting"]
    assert [h["code"] for h in conflict["hints"]] == ["conflict"]
    assert "static camera and a moving one" in conflict["hints"][0]["message"]
    assert "too_long" in [h["code"] for h in long["hints"]]
    assert long["model"] == "simulated:synth-1"


def test_templates_are_versioned_and_each_tenants_own(gateway: Server) -> None:
    body = {
        "name": "launch-teaser",
        "title": "Launch teaser",
        "variables": {"product": {"type": "string", "description": "what launches"}},
        "prompt": {"subject": "{product}", "action": "spins into view", "camera": "orbit"},
        "parameters": {"duration": 2, "aspect_ratio": "9:16"},
    }
    with gateway.client(gateway.key("acme")) as acme, gateway.client(gateway.key("rival")) as rival:
        first = acme.post("/v1/templates", json=body)
        assert first.status_code == 200, first.text
        second = acme.post("/v1/templates", json={**body, "version": 1, "title": "v2"})
        listed = acme.get("/v1/templates").json()["data"]
        shown = acme.get("/v1/templates/launch-teaser").json()
        pinned = acme.get("/v1/templates/launch-teaser@1").json()
        builtin = acme.get("/v1/templates/product-shot@1").json()
        hidden = rival.get("/v1/templates/launch-teaser")
        rival_list = {t["name"] for t in rival.get("/v1/templates").json()["data"]}
        rival_create = rival.post(
            "/v1/videos", json={"template": "launch-teaser", "variables": {"product": "x"}}
        )
    assert (first.json()["id"], second.json()["id"]) == ("launch-teaser@1", "launch-teaser@2")
    assert {t["id"] for t in listed} >= {"launch-teaser@2", "product-shot@2", "b-roll@1"}
    assert (shown["id"], shown["title"], shown["versions"]) == ("launch-teaser@2", "v2", [1, 2])
    assert pinned["title"] == "Launch teaser"  # a version is never edited
    assert (builtin["source"], builtin["versions"]) == ("builtin", [1, 2])
    _error(hidden, 404, "template_not_found")
    assert "launch-teaser" not in rival_list and "product-shot" in rival_list
    _error(rival_create, 404, "template_not_found")


def test_a_job_from_a_template_records_its_version_and_variables(gateway: Server) -> None:
    with gateway.client(gateway.key("tpl")) as client:
        created = client.post(
            "/v1/videos",
            json={
                "template": "product-shot@1",
                "variables": {"product": "a ceramic mug", "surface": "marble"},
                "resolution": "360p",
                "duration": 1,
            },
        )
        assert created.status_code == 200, created.text
        video = wait_done(client, created.json()["id"])
    assert video["status"] == "completed", video["error"]
    assert video["template"] == "product-shot@1"
    assert video["variables"] == {"product": "a ceramic mug", "surface": "marble"}
    assert video["aspect_ratio"] == "1:1"  # the template's default parameter
    assert video["prompt"].startswith("A ceramic mug on a marble surface turns slowly")
    assert (
        video["attempts"][0]["prompt_sent"]["negative_prompt"] == "text, watermark, hands, clutter"
    )


@pytest.mark.parametrize(
    ("variables", "status", "code", "variable"),
    [
        ({}, 400, "template_variable_missing", "product"),
        ({"product": "x", "colour": "red"}, 400, "template_variable_unknown", "colour"),
        ({"product": "x", "surface": "lava"}, 400, "template_variable_invalid", "surface"),
        ({"product": "x", "reflections": "maybe"}, 400, "template_variable_invalid", "reflections"),
    ],
)
def test_a_bad_variable_is_a_4xx_naming_it_on_create_and_estimate(
    gateway: Server, variables: dict[str, str], status: int, code: str, variable: str
) -> None:
    payload = {"template": "product-shot", "variables": variables}
    with gateway.client(gateway.key("vars")) as client:
        for path in ("/v1/videos", "/v1/videos/estimate"):
            error = _error(client.post(path, json=payload), status, code)
            assert error["param"] == "variables"
            assert error["details"]["variable"] == variable
            assert variable in error["message"]
        listed = client.get("/v1/videos").json()["data"]
    assert listed == []  # nothing was admitted


def test_hostile_prompts_and_templates_are_refused(gateway: Server) -> None:
    with gateway.client(gateway.key("hostile")) as client:
        huge = client.post("/v1/videos", json={"prompt": {"subject": "x" * 2001}})
        shape = client.post("/v1/videos", json={"prompt": ["a", "b"]})
        extra = client.post("/v1/videos", json={"prompt": {"subject": "a", "__class__": "x"}})
        many = client.post(
            "/v1/videos",
            json={"template": "b-roll", "variables": {f"v{i}": "x" for i in range(33)}},
        )
        nothing = client.post("/v1/videos", json={"duration": 2})
        unknown = client.post("/v1/videos/estimate", json={"template": "no-such-thing"})
        bad_name = client.post("/v1/videos/estimate", json={"template": "../etc@x"})
        attr = client.post(
            "/v1/templates", json={"name": "evil", "prompt": {"subject": "{x.__class__}"}}
        )
        undeclared = client.post(
            "/v1/templates", json={"name": "evil", "prompt": {"subject": "{x}"}}
        )
        not_json = client.post("/v1/templates", content=b"{")
    for response in (huge, shape, extra, many, nothing, bad_name, attr, undeclared, not_json):
        assert response.status_code == 400, response.text
    assert "prompt" in nothing.json()["error"]["message"]
    _error(unknown, 404, "template_not_found")
    _error(attr, 400, "invalid_template")
    assert "a placeholder is {name}" in attr.json()["error"]["message"]


def test_a_multipart_create_takes_a_json_encoded_prompt_object(gateway: Server) -> None:
    def form(prompt: str) -> dict[str, Any]:  # multipart fields, as the openai SDK sends them
        return {"prompt": (None, prompt), "seconds": (None, "1"), "size": (None, "640x360")}

    with gateway.client(gateway.key("multipart")) as client:
        created = client.post("/v1/videos", files=form(json.dumps(PARTS)))
        assert created.status_code == 200, created.text
        plain = client.post("/v1/videos", files=form("{not json"))
        assert plain.status_code == 200, plain.text
    assert created.json()["prompt_parts"]["subject"] == "a paper boat"
    assert plain.json()["prompt"] == "{not json"  # text that is not an object stays text
    # The job keeps the hints it was created with.
    assert [h["code"] for h in plain.json()["hints"]] == ["no_camera", "no_lighting"]


def test_the_python_client_takes_parts_and_templates(gateway: Server) -> None:
    from vidgate.client import Client
    from vidgate.exceptions import MissingTemplateVariable

    with Client(gateway.url, api_key=gateway.key("client")) as client:
        estimate = client.estimate({"subject": "a fox", "camera": "slow pan"})
        made = client.create_template(
            {
                "name": "fox",
                "variables": {"where": {"type": "string", "default": "snow"}},
                "prompt": {"subject": "a fox in {where}", "lighting": "dusk"},
            }
        )
        shown = client.template("fox")
        with pytest.raises(MissingTemplateVariable) as missing:
            client.create(template="product-shot")
    assert [h["code"] for h in estimate.hints] == ["no_lighting"]
    assert made["id"] == "fox@1" and shown["versions"] == [1]
    assert "fox" in {t["name"] for t in client_templates(gateway)}
    assert missing.value.details["variable"] == "product"


def client_templates(gateway: Server) -> list[dict[str, Any]]:
    from vidgate.client import Client

    with Client(gateway.url, api_key=gateway.key("client")) as client:
        return client.templates()
