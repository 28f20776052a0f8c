"""The result cache through the HTTP API and the CLI: the ``cache`` field on create and
estimate, ``cached``/``cached_from`` on the Video object, the served content, and a tenant's
similarity threshold set with ``PATCH /v1/admin/tenants``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.test_gateway import Server, running_gateway, wait_done
from vidgate.caching.similar import load_embedder

SMALL = {"duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(tmp_path_factory.mktemp("cache-gateway")) as server:
        yield server


def test_an_identical_create_is_served_from_the_cache_and_estimated_at_zero(
    gateway: Server,
) -> None:
    body = {"prompt": "a lighthouse in fog", "seed": 11, **SMALL}
    with gateway.client(gateway.key("cache-a")) as client:
        before = client.post("/v1/videos/estimate", json=body).json()
        assert before["cache"] is None
        first = wait_done(client, client.post("/v1/videos", json=body).json()["id"])
        assert first["status"] == "completed" and first["cached"] is False
        assert first["cached_from"] is None

        estimate = client.post("/v1/videos/estimate", json=body).json()
        assert estimate["cache"]["hit"] is True and estimate["cache"]["usd"] == 0
        assert estimate["cache"]["cached_from"] == first["id"]

        created = client.post("/v1/videos", json=body)
        assert created.status_code == 200, created.text
        video = created.json()
        assert video["status"] == "completed" and video["progress"] == 100
        assert video["cached"] is True and video["cached_from"] == first["id"]
        assert video["cache_match"]["match"] == "exact"
        assert video["cost_usd"] == 0 and video["attempts"] == []
        served = client.get(f"/v1/videos/{video['id']}/content")
        original = client.get(f"/v1/videos/{first['id']}/content")
        assert served.status_code == 200 and served.content[4:8] == b"ftyp"
        assert hashlib.sha256(served.content).digest() == hashlib.sha256(original.content).digest()

        # cache: false (here as a multipart string) generates anew.
        fresh = client.post(
            "/v1/videos",
            files={k: (None, str(v)) for k, v in {**body, "cache": "false"}.items()},
        ).json()
        assert fresh["cached"] is False and fresh["status"] == "queued"
        wait_done(client, fresh["id"])
    # Never across tenants.
    with gateway.client(gateway.key("cache-b")) as other:
        assert other.post("/v1/videos/estimate", json=body).json()["cache"] is None
        elsewhere = other.post("/v1/videos", json=body).json()
        assert elsewhere["cached"] is False
        wait_done(other, elsewhere["id"])


def test_a_bad_cache_value_is_a_400(gateway: Server) -> None:
    with gateway.client(gateway.key("cache-c")) as client:
        bad = client.post("/v1/videos", json={"prompt": "x", "cache": "sometimes"})
        assert bad.status_code == 400 and "cache" in bad.json()["error"]["message"]


def test_a_tenant_sets_its_similarity_threshold(gateway: Server) -> None:
    gateway.key("cache-d")
    with gateway.client(gateway.key("cache-ops", admin=True)) as ops:
        changed = ops.patch("/v1/admin/tenants/cache-d", json={"cache_similarity": 0.8})
        assert changed.status_code == 200 and changed.json()["cache_similarity"] == 0.8
        bad = ops.patch("/v1/admin/tenants/cache-d", json={"cache_similarity": 1.5})
        assert bad.status_code == 400 and "cache_similarity" in bad.json()["error"]["message"]


@pytest.mark.skipif(load_embedder() is None, reason="the embeddings extra is not installed")
def test_similar_over_http_uses_the_tenants_threshold(gateway: Server) -> None:
    key = gateway.key("cache-e")
    body = {"prompt": "a sailing boat on a calm lake at sunset", "seed": 5, **SMALL}
    near = {**body, "prompt": "a sailboat on a calm lake at sunset", "cache": "similar"}
    with gateway.client(key) as client:
        first = wait_done(client, client.post("/v1/videos", json=body).json()["id"])
        with gateway.client(gateway.key("cache-ops-e", admin=True)) as ops:
            ops.patch("/v1/admin/tenants/cache-e", json={"cache_similarity": 0.999})
        strict = client.post("/v1/videos", json=near).json()
        assert strict["cached"] is False  # below this tenant's threshold
        wait_done(client, strict["id"])
        with gateway.client(gateway.key("cache-ops-e2", admin=True)) as ops:
            ops.patch("/v1/admin/tenants/cache-e", json={"cache_similarity": 0.85})
        closer = {**near, "prompt": "a sailing boat on a calm lake during sunset"}
        video = client.post("/v1/videos", json=closer).json()
        assert video["cached"] is True, video
        # Either earlier video qualifies; the match names the prompt it came from.
        match = video["cache_match"]
        assert match["match"] == "similar" and 0.85 <= match["similarity"] < 1
        prompts = {first["id"]: body["prompt"], strict["id"]: near["prompt"]}
        assert match["prompt"] == prompts[video["cached_from"]]
