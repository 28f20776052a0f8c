"""The deliver step end to end: a job on the simulated provider makes its delivery set with the
default profile, stores every file, lists every asset, and the gateway serves each variant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import small_request
from tests.test_gateway import Server, running_gateway, wait_done
from vidgate.engine import Engine
from vidgate.engine.delivering import deliver_output
from vidgate.engine.runtime import current
from vidgate.exceptions import InvalidDeliveryProfile
from vidgate.media.probe import probe
from vidgate.server import create_app
from vidgate.settings import Settings
from vidgate.types import JobStatus, Phase

DEFAULT_SET = {"original", "video", "thumbnail", "hls", "poster", "sprite", "sprite_vtt", "preview"}


@pytest.fixture
def default_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDGATE_DELIVERY_PROFILE")


@pytest.mark.usefixtures("default_profile")
async def test_a_job_delivers_its_set_and_lists_every_asset(tmp_path: Path) -> None:
    async with Engine(Settings()) as engine:
        # 480p 16:9 from the simulator: the default 480p tier is the source's own size, so it
        # is not made again.
        job = await engine.submit(small_request(resolution="480p"))
        phases = [snap.phase async for snap in engine.watch(job.id, interval=0.02)]
        done = engine.get(job.id)
        assert done.status is JobStatus.COMPLETED, done.error
        assert Phase.DELIVERING in phases
        kinds = [a.kind for a in done.assets]
        assert kinds == [
            "original", "video", "hls", "poster", "thumbnail", "sprite", "sprite_vtt", "preview"
        ]  # fmt: skip
        storage = engine.runtime.storage
        for asset in done.assets:
            path = storage.local_path(asset.key)
            assert path is not None and path.is_file(), asset.kind
            if asset.facts is not None:
                assert asset.facts.variant == asset.kind
                assert all(Path(storage.uri(k)).is_file() for k in asset.facts.keys)
        video = next(a for a in done.assets if a.kind == "video")
        assert done.output is not None and done.output.key == video.key == f"videos/{job.id}.mp4"
        assert video.facts is not None and video.facts.codec == "h264"
        info = probe(Path(video.uri))
        assert (info.width, info.height, info.video_codec) == (854, 480, "h264")
        hls = next(a for a in done.assets if a.kind == "hls")
        assert hls.content_type == "application/vnd.apple.mpegurl" and hls.facts is not None
        assert hls.key == f"renditions/{job.id}/hls/master.m3u8"
        assert len(hls.facts.keys) == len(hls.facts.files) >= 4
        original = next(a for a in done.assets if a.kind == "original")
        assert original.key.startswith(f"originals/{job.id}") and original.media is not None
        events = [e.message for e in engine.runtime.store.events(job.id)]
        assert any(m.startswith("delivered: video 854x480") for m in events)
        assert not (engine.settings.work_dir / job.id).exists()

        # The step again (a crash after it, before its checkpoint): the same rows, replaced.
        copy = tmp_path / "output.mp4"
        copy.write_bytes(Path(original.uri).read_bytes())
        payload = await deliver_output(job.id, copy)
        again = engine.get(job.id)
        assert {a.kind for a in again.assets} == DEFAULT_SET and len(again.assets) == len(
            DEFAULT_SET
        )
        assert payload["variants"][0] == "original"
        assert current() is engine.runtime

        # Deleting the video deletes every delivered file, HLS segments included.
        await engine.delete(job.id)
        assert all(not Path(storage.uri(k)).exists() for k in hls.facts.keys)


async def test_a_tenant_profile_is_merged_and_checked() -> None:
    from vidgate.db import tenants
    from vidgate.engine.delivering import profile_for

    async with Engine(Settings(delivery_profile='{"tiers": ["240p"], "sprite": false}')) as engine:
        store = engine.runtime.store
        with store.engine.begin() as conn:
            conn.execute(
                tenants.insert().values(
                    name="t1",
                    webhook_secret="whsec_x",
                    delivery_profile='{"webm": true}',
                    created_at=_now(),
                    updated_at=_now(),
                )
            )
        mine = profile_for("t1")
        assert mine.webm and mine.tiers == ("240p",) and not mine.sprite
        assert profile_for("nobody").tiers == ("240p",)
        with store.engine.begin() as conn:
            conn.execute(
                tenants.update().where(tenants.c.name == "t1").values(delivery_profile="[")
            )
        with pytest.raises(InvalidDeliveryProfile) as raised:
            profile_for("t1")
        assert "t1" in raised.value.message


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Server]:
    with running_gateway(
        tmp_path / "delivery-gateway",
        simulated_latency=0.2,
        scanners="marker",
        delivery_profile='{"tiers": ["240p"]}',
    ) as server:
        yield server


def test_every_delivered_variant_is_served(gateway: Server) -> None:
    with gateway.client(gateway.key("viewer")) as http:
        created = http.post(
            "/v1/videos",
            json={"prompt": "a kite", "duration": 1, "resolution": "360p", "aspect_ratio": "16:9"},
        )
        assert created.status_code == 200, created.text
        video = wait_done(http, created.json()["id"])
        assert video["status"] == "completed", video["error"]
        listed = {a["variant"]: a for a in video["assets"]}
        assert set(listed) == {*DEFAULT_SET, "240p"}
        assert listed["240p"]["width"] == 426 and listed["240p"]["codecs"].startswith("avc1.")
        content = f"/v1/videos/{video['id']}/content"
        expected = {
            "video": "video/mp4",
            "original": "video/mp4",
            "240p": "video/mp4",
            "thumbnail": "image/jpeg",
            "poster": "image/jpeg",
            "sprite": "image/jpeg",
            "spritesheet": "image/jpeg",
            "sprite_vtt": "text/vtt",
            "preview": "image/webp",
        }
        for variant, content_type in expected.items():
            answer = http.get(content, params={"variant": variant})
            assert answer.status_code == 200, (variant, answer.text)
            assert answer.headers["content-type"].startswith(content_type), variant
            name = "sprite" if variant == "spritesheet" else variant
            assert len(answer.content) == listed[name]["bytes"] or variant in ("video", "thumbnail")
        # HLS: the master, then each media playlist and segment it names, by relative URI.
        master = http.get(content, params={"variant": "hls"}, follow_redirects=True)
        assert master.status_code == 200 and str(master.url).endswith("/hls/master.m3u8")
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        for uri in re.findall(r"^(?!#)(\S+)$", master.text, re.M):
            playlist = http.get(master.url.join(uri))
            assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
            for part in re.findall(r'URI="([^"]+)"|^(?!#)(\S+)$', playlist.text, re.M):
                got = http.get(playlist.url.join(part[0] or part[1]))
                assert got.status_code == 200 and got.content
        # What is not there is named, with what is.
        missing = http.get(content, params={"variant": "webm"})
        assert missing.status_code == 404
        body = missing.json()["error"]
        assert body["code"] == "variant_not_available" and "webm" in body["message"]
        assert "hls" in body["details"]["available"]
        assert http.get(content, params={"variant": "../etc"}).status_code == 400
        hls = f"/v1/videos/{video['id']}/hls/"
        for bad in ("../../../etc/passwd", "240p/../../x.m3u8", "x.m3u8", "240p/seg_999.m4s"):
            assert http.get(hls + bad).status_code == 404, bad
    # Another tenant sees none of it.
    with gateway.client(gateway.key("other")) as stranger:
        assert stranger.get(f"{hls}master.m3u8").status_code == 404
    assert httpx.get(f"{gateway.url}{hls}master.m3u8").status_code == 401


async def test_a_delivery_that_cannot_be_made_fails_the_job_with_its_code() -> None:
    from vidgate.db import tenants

    async with Engine(Settings()) as engine:
        with engine.runtime.store.engine.begin() as conn:
            conn.execute(
                tenants.insert().values(
                    name="broken",
                    webhook_secret="whsec_x",
                    delivery_profile='{"tiers": ["999p"]}',
                    created_at=_now(),
                    updated_at=_now(),
                )
            )
        job = await engine.submit(small_request(), tenant="broken")
        async for _ in engine.watch(job.id, interval=0.02):
            pass
        done = engine.get(job.id)
        assert done.status is JobStatus.FAILED and done.error is not None
        assert done.error.code == "delivery_profile_invalid"
        assert not (engine.settings.work_dir / job.id).exists()


def test_the_admin_api_sets_a_tenant_delivery_profile() -> None:
    from fastapi.testclient import TestClient

    app = create_app(Settings(), worker=False)
    book = app.state.gateway.tenants
    client = TestClient(app)
    ops = {"Authorization": f"Bearer {book.create_key('ops', admin=True).secret}"}
    book.ensure_tenant("acme")
    url = "/v1/admin/tenants/acme"
    patched = client.patch(url, headers=ops, json={"delivery_profile": {"tiers": ["720p"]}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["delivery_profile"] == {"tiers": ["720p"]}
    refused = client.patch(url, headers=ops, json={"delivery_profile": {"tiers": ["4k"]}})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "delivery_profile_invalid" and error["details"]["field"] == "tiers"
    assert client.patch(url, headers=ops, json={"delivery_profile": "720p"}).status_code == 400
    cleared = client.patch(url, headers=ops, json={"delivery_profile": None})
    assert cleared.json()["delivery_profile"] is None


@pytest.mark.usefixtures("default_profile")
async def test_a_cache_hit_gets_its_own_copy_of_the_whole_set() -> None:
    async with Engine(Settings()) as engine:
        first = await engine.submit(small_request(seed=11))
        async for _ in engine.watch(first.id, interval=0.02):
            pass
        first = engine.get(first.id)
        assert first.status is JobStatus.COMPLETED, first.error
        hit = await engine.submit(small_request(seed=11))
        assert hit.cached is not None and hit.cached.job_id == first.id
        assert [a.kind for a in hit.assets] == [a.kind for a in first.assets]
        storage = engine.runtime.storage
        for mine, theirs in zip(hit.assets, first.assets, strict=True):
            assert mine.sha256 == theirs.sha256 and mine.key != theirs.key
            assert hit.id in mine.key
            if mine.facts is not None and theirs.facts is not None:
                assert len(mine.facts.keys) == len(theirs.facts.keys)
                assert all(hit.id in k and Path(storage.uri(k)).is_file() for k in mine.facts.keys)
        await engine.delete(first.id)
        hls = next(a for a in engine.get(hit.id).assets if a.kind == "hls")
        assert hls.facts is not None
        assert all(Path(storage.uri(k)).is_file() for k in hls.facts.keys)
