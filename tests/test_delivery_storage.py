"""Content responses as a CDN origin needs them, from local disk and from S3 (moto's server on
loopback): strong ETags, ranges, 304/416, cache headers, CORS; redirect and proxy delivery;
deleted and expired videos leaving storage."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.s3_support import Bucket
from tests.support import wait_until
from vidgate.engine import retention
from vidgate.server import create_app
from vidgate.settings import Settings
from vidgate.simulator.server import free_port

SMALL = {"prompt": "a heron at dawn", "duration": 1, "resolution": "360p", "aspect_ratio": "16:9"}
PLAYER = "https://player.example"
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=31536000, immutable"


class Gateway:
    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url
        self.key = app.state.gateway.tenants.create_key("acme").secret

    @property
    def engine(self) -> Any:
        return self.app.state.gateway.engine

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    def finished(self, http: httpx.Client) -> dict[str, Any]:
        created = http.post("/v1/videos", json=SMALL)
        assert created.status_code == 200, created.text
        job_id = created.json()["id"]

        def done() -> dict[str, Any] | None:
            video = http.get(f"/v1/videos/{job_id}").json()
            return video if video["status"] in ("completed", "failed") else None

        video = wait_until(done, 60, interval=0.05, what="the video to finish")
        assert video["status"] == "completed", video
        return video


@contextlib.contextmanager
def gateway(**options: Any) -> Iterator[Gateway]:
    port = free_port()
    settings = Settings(public_url=f"http://127.0.0.1:{port}", cors_origins=[PLAYER], **options)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 30, what="the server starting")
    assert server.started
    try:
        yield Gateway(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _check_headers(http: httpx.Client, path: str, body: bytes, cache: str) -> None:
    """What every file answer carries, whatever the backend."""
    sha = hashlib.sha256(body).hexdigest()
    full = http.get(path)
    assert full.status_code == 200 and full.content == body
    assert full.headers["etag"] == f'"{sha}"'
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["cache-control"] == cache
    assert full.headers["content-type"] == "video/mp4"
    assert "vary" not in full.headers, "no Origin sent: nothing varies"
    head = http.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(body))
    assert head.headers["etag"] == full.headers["etag"]
    for tag in (f'"{sha}"', f'W/"{sha}"', f'"other", "{sha}"', "*"):
        again = http.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"", tag
        assert again.headers["etag"] == f'"{sha}"'
    assert http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    part = http.get(path, headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == body[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(body)}"
    tail = http.get(path, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == body[-50:]
    past = http.get(path, headers={"Range": f"bytes={len(body)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(body)}"
    stale = http.get(path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == body
    cors = http.get(path, headers={"Origin": PLAYER, "Range": "bytes=0-0"})
    assert cors.headers["access-control-allow-origin"] == PLAYER
    assert "ETag" in cors.headers["access-control-expose-headers"]
    assert cors.headers["vary"] == "Origin"
    foreign = http.get(path, headers={"Origin": "https://evil.example", "Range": "bytes=0-0"})
    assert "access-control-allow-origin" not in foreign.headers


def _check_preflight(url: str) -> None:
    answer = httpx.options(
        url,
        headers={
            "Origin": PLAYER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range,authorization",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == PLAYER
    assert "GET" in answer.headers["access-control-allow-methods"]
    assert "Range" in answer.headers["access-control-allow-headers"]
    refused = httpx.options(url, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in refused.headers


def test_local_content_answers_like_a_cdn_origin() -> None:
    with gateway() as gw, gw.client() as http:
        video = gw.finished(http)
        path = f"/v1/videos/{video['id']}/content"
        body = http.get(path).content
        _check_headers(http, path, body, PRIVATE)
        _check_preflight(gw.url + path)
        signed = video["urls"]["video"]
        with httpx.Client() as anonymous:
            _check_headers(anonymous, signed, body, IMMUTABLE)
        _check_preflight(signed)


def test_s3_content_redirects_to_a_presigned_url(s3_bucket: Bucket) -> None:
    with gateway() as gw, gw.client() as http:
        video = gw.finished(http)
        keys = s3_bucket.object_keys()
        assert f"media/videos/{video['id']}.mp4" in keys
        assert f"media/thumbnails/{video['id']}.jpg" in keys
        path = f"/v1/videos/{video['id']}/content"
        moved = http.get(path)
        assert moved.status_code == 302 and moved.headers["cache-control"] == "private, no-store"
        location = moved.headers["location"]
        assert location.startswith(s3_bucket.endpoint) and "X-Amz-Signature=" in location
        fetched = httpx.get(location)
        assert fetched.status_code == 200
        assert fetched.headers["cache-control"] == IMMUTABLE
        assert fetched.headers["content-type"] == "video/mp4"
        sha = hashlib.sha256(fetched.content).hexdigest()
        assert http.get(path, headers={"If-None-Match": f'"{sha}"'}).status_code == 304
        # The signed gateway link redirects the same way.
        assert httpx.get(video["urls"]["video"]).status_code == 302
        # A key without an asset row of its own (an HLS segment): facts from a HEAD, and a
        # presigned URL for a playlist to name.
        key = f"videos/{video['id']}.mp4"
        found = gw.engine.stored_object(key, "video/mp4")
        assert found is not None and (found.size_bytes, found.sha256) == (len(fetched.content), sha)
        assert gw.engine.stored_object("videos/none.mp4", "video/mp4") is None
        segment = gw.engine.signed_storage_url(key, content_type="video/iso.segment")
        assert segment is not None and httpx.get(segment).content == fetched.content


def test_s3_content_proxied_with_ranges_and_etags(s3_bucket: Bucket) -> None:
    with gateway(content_delivery="proxy") as gw, gw.client() as http:
        video = gw.finished(http)
        path = f"/v1/videos/{video['id']}/content"
        body = http.get(path).content
        stored = (
            s3_bucket.client()
            .get_object(Bucket=s3_bucket.name, Key=f"media/videos/{video['id']}.mp4")["Body"]
            .read()
        )
        assert body == stored and len(body) > 1000
        _check_headers(http, path, body, PRIVATE)
        thumb = http.get(path, params={"variant": "thumbnail"})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_deleting_a_video_removes_its_objects(s3_bucket: Bucket) -> None:
    with gateway(content_delivery="proxy") as gw, gw.client() as http:
        video = gw.finished(http)
        assert len(s3_bucket.object_keys()) == 3  # original, delivered video, thumbnail
        assert http.delete(f"/v1/videos/{video['id']}").json()["deleted"] is True
        assert s3_bucket.object_keys() == []
        assert http.get(f"/v1/videos/{video['id']}/content").status_code == 404


def test_retention_sweep_deletes_expired_objects_and_marks_rows(s3_bucket: Bucket) -> None:
    with gateway(content_delivery="proxy") as gw, gw.client() as http:
        video = gw.finished(http)
        engine = gw.engine
        rt = engine.runtime
        engine.set_retention_policy("acme", {"originals_days": 1, "renditions_days": 2})
        later = engine.clock() + timedelta(days=1, minutes=1)
        dry = retention.sweep(rt, now=later, dry_run=True)
        assert sorted(a["kind"] for a in dry.assets) == ["original", "video"]
        assert dry.bytes_freed > 0
        assert len(s3_bucket.object_keys()) == 3, "a dry run deletes nothing"
        usage = {(r.tenant, r.kind): r.bytes for r in engine.storage_usage()}
        assert usage[("acme", "video")] > 0 and ("acme", "thumbnail") in usage
        report = retention.sweep(rt, now=later)
        assert report.objects_deleted == 2 and not report.errors
        assert s3_bucket.object_keys() == [f"media/thumbnails/{video['id']}.jpg"]
        gone = http.get(f"/v1/videos/{video['id']}/content")
        assert gone.status_code == 404
        job = engine.get(video["id"])
        assert job.output.deleted_at is not None and job.thumbnail.deleted_at is None
        after = http.get(f"/v1/videos/{video['id']}").json()
        assert "video" in video["urls"] and "video" not in after["urls"]  # no link to nothing
        # The thumbnail (a rendition) lasts two days.
        report = retention.sweep(rt, now=engine.clock() + timedelta(days=2, minutes=1))
        assert report.objects_deleted == 1 and s3_bucket.object_keys() == []
        assert ("acme", "video") not in {(r.tenant, r.kind) for r in engine.storage_usage()}
        # Sweeping again finds nothing.
        assert retention.sweep(rt, now=engine.clock() + timedelta(days=9)).objects_deleted == 0


def test_a_shared_object_outlives_one_of_its_jobs(tmp_path: Path) -> None:
    with gateway() as gw, gw.client() as http:
        first, second = gw.finished(http), gw.finished(http)
        rt = gw.engine.runtime
        # The second job's video row names the first one's object (content addressing).
        shared = gw.engine.get(first["id"]).output
        with rt.store.engine.begin() as conn:
            from vidgate.db.tables import assets

            conn.execute(
                assets.update()
                .where(assets.c.job_id == second["id"], assets.c.kind == "video")
                .values(key=shared.key, uri=shared.uri, sha256=shared.sha256)
            )
        own = f"videos/{second['id']}.mp4"
        rt.storage.delete(own)
        http.delete(f"/v1/videos/{first['id']}")
        assert rt.storage.head(shared.key) is not None, "still named by the second job"
        assert http.get(f"/v1/videos/{second['id']}/content").status_code == 200
        http.delete(f"/v1/videos/{second['id']}")
        assert rt.storage.head(shared.key) is None
        assert list(rt.storage.keys()) == []


def test_an_hls_set_on_s3_plays_through_the_gateway(
    s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIDGATE_DELIVERY_PROFILE", raising=False)  # the default set: HLS too
    with gateway() as gw, gw.client() as http:
        video = gw.finished(http)
        content = f"/v1/videos/{video['id']}/content"
        master = http.get(content, params={"variant": "hls"}, follow_redirects=True)
        # Playlists come from the gateway (their URIs are relative to it) ...
        assert master.status_code == 200 and str(master.url).endswith("/hls/master.m3u8")
        assert master.headers["etag"].startswith('"') and master.headers["accept-ranges"]
        segments = 0
        for uri in re.findall(r"^(?!#)(\S+)$", master.text, re.M):
            playlist = http.get(master.url.join(uri))
            assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
            for part in re.findall(r'URI="([^"]+)"|^(?!#)(\S+)$', playlist.text, re.M):
                # ... and each segment is a redirect to its presigned URL in the bucket.
                moved = http.get(playlist.url.join(part[0] or part[1]))
                assert moved.status_code == 302, moved.text
                assert moved.headers["location"].startswith(s3_bucket.endpoint)
                got = httpx.get(moved.headers["location"])
                assert got.status_code == 200 and got.content
                segments += 1
        assert segments >= 2
        assert any("/hls/" in k for k in s3_bucket.object_keys())
        http.delete(f"/v1/videos/{video['id']}")
        assert s3_bucket.object_keys() == [], "every file of every variant, HLS segments too"
