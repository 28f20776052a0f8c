"""HLS from S3 plays in a real browser (headless Chromium): the gateway sends the playlists and
redirects each segment to its presigned URL in the bucket (moto's S3 server on loopback: another
origin than the gateway's), through the player page both with the browser's own HLS player and
with hls.js. Both read the segments in CORS mode, so the bucket needs a CORS rule: the gateway
keeps one there (``VIDGATE_S3_CORS_ORIGINS``); without it the bucket answers no CORS headers
and neither player gets a frame."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser import play_page
from tests.s3_support import CREDENTIALS, Bucket, S3Server
from tests.test_gateway import Server, running_gateway, wait_done
from vidgate.storage.s3 import CORS_RULE_ID

PROFILE = {"tiers": ["240p"], "hls": True, "sprite": False, "preview": False}


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> Iterator[Bucket]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        found = Bucket(endpoint=s3_server.endpoint, name="vidgate-playback")
        found.client().create_bucket(Bucket=found.name)
        # The operator's own rule, which the gateway's must not replace.
        found.client().put_bucket_cors(
            Bucket=found.name,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "ID": "uploads",
                        "AllowedMethods": ["PUT"],
                        "AllowedOrigins": ["https://up.example"],
                    }
                ]
            },
        )
        yield found


@pytest.fixture(scope="module")
def gateway(bucket: Bucket, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gateway(
        tmp_path_factory.mktemp("playback-s3"),
        signed_links=True,
        delivery_profile=json.dumps(PROFILE),
        storage_url=f"s3://{bucket.name}/media",
        s3_endpoint_url=bucket.endpoint,
        s3_cors_origins=["*"],
        content_delivery="redirect",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def video(gateway: Server) -> dict[str, Any]:
    body = {"prompt": "a lighthouse at dusk", "duration": 2, "resolution": "360p", "seed": 5}
    with gateway.client(gateway.key("playback-s3")) as client:
        done = wait_done(client, client.post("/v1/videos", json=body).json()["id"], 120)
    assert done["status"] == "completed", done
    return done


def test_the_gateway_keeps_its_cors_rule_on_the_bucket(bucket: Bucket, gateway: Server) -> None:
    rules = bucket.client().get_bucket_cors(Bucket=bucket.name)["CORSRules"]
    assert [r.get("ID") for r in rules] == ["uploads", CORS_RULE_ID], "the operator's rule stays"
    ours = rules[1]
    assert ours["AllowedOrigins"] == ["*"] and ours["AllowedMethods"] == ["GET", "HEAD"]
    assert "Range" in ours["AllowedHeaders"] and "ETag" in ours["ExposeHeaders"]


def test_segments_are_redirected_to_the_bucket_with_cors(
    bucket: Bucket, video: dict[str, Any]
) -> None:
    master = httpx.get(video["urls"]["hls"], timeout=30)
    assert master.status_code == 200 and master.text.startswith("#EXTM3U")
    moved = httpx.get(master.url.join("240p/init.mp4"), timeout=30)
    assert moved.status_code == 302 and moved.headers["location"].startswith(bucket.endpoint)
    origin = str(master.url.copy_with(path="/", query=None, fragment=None)).rstrip("/")
    for sent in (origin, "null"):  # the page's origin; a page on a third origin after a redirect
        got = httpx.get(moved.headers["location"], headers={"Origin": sent}, timeout=30)
        assert got.status_code == 200 and got.headers.get("access-control-allow-origin"), sent


def test_without_the_rule_a_bucket_answers_no_cors(bucket: Bucket) -> None:
    """What breaks without it: the bucket sends no CORS headers, so a browser refuses to hand a
    segment to hls.js (or to a crossorigin video element)."""
    other = Bucket(endpoint=bucket.endpoint, name="vidgate-no-cors")
    other.client().create_bucket(Bucket=other.name)
    other.client().put_object(Bucket=other.name, Key="init.mp4", Body=b"x")
    url = other.client().generate_presigned_url(
        "get_object", Params={"Bucket": other.name, "Key": "init.mp4"}, ExpiresIn=60
    )
    got = httpx.get(url, headers={"Origin": "http://127.0.0.1"}, timeout=30)
    assert got.status_code == 200 and "access-control-allow-origin" not in got.headers


@pytest.mark.parametrize(
    ("query", "player"),
    [("", "HLS, played by the browser"), ("?hls=js", "HLS, played with hls.js")],
)
def test_the_player_plays_hls_from_s3(
    gateway: Server, video: dict[str, Any], chromium: Any, query: str, player: str
) -> None:
    result = play_page(chromium, video["urls"]["player"] + query)
    assert result["how"] == player, result
    assert result["ready"] >= 2 and result["now"] > 0.2, result


def test_without_the_rule_hls_js_gets_no_segment(
    bucket: Bucket, gateway: Server, video: dict[str, Any], chromium: Any
) -> None:
    """The failure the rule prevents, in the browser: the segment XHR is refused by CORS."""
    rules = bucket.client().get_bucket_cors(Bucket=bucket.name)["CORSRules"]
    bucket.client().delete_bucket_cors(Bucket=bucket.name)
    try:
        with pytest.raises(AssertionError, match="CORS policy"):
            play_page(chromium, video["urls"]["player"] + "?hls=js", timeout_ms=8_000)
    finally:
        bucket.client().put_bucket_cors(Bucket=bucket.name, CORSConfiguration={"CORSRules": rules})
