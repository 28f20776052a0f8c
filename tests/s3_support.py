"""A real S3-speaking server on loopback for the storage tests: moto's standalone server, run in
its own process (``moto[server]``, from the ``test`` extra), one per test session.

``s3_server`` (session) starts it; ``s3_bucket`` (per test) makes a fresh bucket and points the
environment at it (``VIDGATE_STORAGE_URL``, ``VIDGATE_S3_ENDPOINT_URL`` and throwaway AWS
credentials), so ``Settings()``, the engine and any ``vidgate`` subprocess use it."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

#: Runs in the server's process: start moto on a free loopback port, say which, and serve until
#: stdin closes (so the server dies with the test run even if it is killed).
_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""

#: Throwaway credentials: the loopback server accepts any.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "vidgate-test",
    "AWS_SECRET_ACCESS_KEY": "vidgate-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint: str


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    name: str

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint)

    def object_keys(self) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def open_uploads(self) -> list[str]:
        answer = self.client().list_multipart_uploads(Bucket=self.name)
        return [u["Key"] for u in answer.get("Uploads", [])]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        # As S3 does: no CORS headers unless the bucket has a rule (moto adds them everywhere
        # by default, which would hide a missing rule from the browser tests).
        env={**_plain_env(), **CREDENTIALS, "MOTO_DISABLE_GLOBAL_CORS": "true"},
    )
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline().strip()
    if not line.isdigit():
        process.kill()
        pytest.fail("the loopback S3 server (moto) did not start")
    try:
        yield S3Server(endpoint=f"http://127.0.0.1:{int(line)}")
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _plain_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIDGATE_"))}


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    bucket = Bucket(endpoint=s3_server.endpoint, name=f"vidgate-{secrets.token_hex(6)}")
    bucket.client().create_bucket(Bucket=bucket.name)
    monkeypatch.setenv("VIDGATE_STORAGE_URL", f"s3://{bucket.name}/media")
    monkeypatch.setenv("VIDGATE_S3_ENDPOINT_URL", s3_server.endpoint)
    return bucket
