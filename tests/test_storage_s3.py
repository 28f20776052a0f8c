"""The S3 backend against a real S3-speaking server on loopback (moto's, ``tests/s3_support``)."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.s3_support import Bucket
from vidgate.exceptions import StorageError
from vidgate.storage import IMMUTABLE, LocalStorage, Storage, content_key, put_addressed
from vidgate.storage.s3 import CORS_RULE_ID, MIN_PART_SIZE, S3Storage, parse_s3_url

MIB = 1024 * 1024


def _storage(bucket: Bucket, **options: int) -> S3Storage:
    return S3Storage(bucket.name, "media/", endpoint_url=bucket.endpoint, **options)


def _file(tmp_path: Path, size: int, name: str = "clip.mp4") -> Path:
    path = tmp_path / name
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, MIB))
            out.write(block)
            left -= len(block)
    return path


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError):
        parse_s3_url("s3:///x")


def test_put_head_range_keys_delete(s3_bucket: Bucket, tmp_path: Path) -> None:
    storage = _storage(s3_bucket)
    assert isinstance(storage, Storage)
    source = _file(tmp_path, 300_000)
    data = source.read_bytes()
    stored = storage.put_file("videos/job_1.mp4", source, "video/mp4", cache_control=IMMUTABLE)
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.uri == f"s3://{s3_bucket.name}/media/videos/job_1.mp4"
    assert s3_bucket.object_keys() == ["media/videos/job_1.mp4"]

    info = storage.head("videos/job_1.mp4")
    assert info is not None
    assert (info.size_bytes, info.sha256, info.content_type, info.cache_control) == (
        len(data),
        stored.sha256,
        "video/mp4",
        IMMUTABLE,
    )
    assert storage.head("videos/nothing.mp4") is None
    assert storage.local_path("videos/job_1.mp4") is None

    assert b"".join(storage.open_range("videos/job_1.mp4")) == data
    assert b"".join(storage.open_range("videos/job_1.mp4", 10, 19)) == data[10:20]
    assert b"".join(storage.open_range("videos/job_1.mp4", 299_990)) == data[299_990:]
    assert sorted(storage.keys()) == ["videos/job_1.mp4"]
    assert list(storage.keys("thumbnails/")) == []

    storage.delete("videos/job_1.mp4")
    assert storage.head("videos/job_1.mp4") is None and s3_bucket.object_keys() == []
    storage.delete("videos/job_1.mp4")  # deleting a missing object is no error
    with pytest.raises(StorageError, match="invalid storage key"):
        storage.head("../escape")


def test_a_large_file_goes_up_in_parts_and_is_checked(s3_bucket: Bucket, tmp_path: Path) -> None:
    storage = _storage(s3_bucket, multipart_threshold=5 * MIB, part_size=5 * MIB)
    source = _file(tmp_path, 12 * MIB)
    stored = storage.put_file(
        content_key(hashlib.sha256(source.read_bytes()).hexdigest(), ".mp4"), source, "video/mp4"
    )
    key = stored.key
    assert key.startswith("objects/") and key.endswith(".mp4")
    head = s3_bucket.client().head_object(
        Bucket=s3_bucket.name, Key=f"media/{key}", ChecksumMode="ENABLED"
    )
    assert head["ETag"].strip('"').endswith("-3"), "three parts: 5 + 5 + 2 MiB"
    parts = [source.read_bytes()[i : i + 5 * MIB] for i in range(0, 12 * MIB, 5 * MIB)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert head["ChecksumSHA256"].split("-")[0] == base64.b64encode(composite).decode()
    assert head["ContentLength"] == 12 * MIB
    digest = hashlib.sha256()
    for chunk in storage.open_range(key):
        assert len(chunk) <= MIB  # streamed, never the whole object at once
        digest.update(chunk)
    assert digest.hexdigest() == stored.sha256
    assert s3_bucket.open_uploads() == []


def test_an_interrupted_multipart_upload_leaves_nothing(s3_bucket: Bucket, tmp_path: Path) -> None:
    # Parts below S3's 5 MiB minimum: the server refuses to complete the upload (EntityTooSmall)
    # after the parts went up, the way a real failure half way through would end.
    storage = _storage(s3_bucket, multipart_threshold=MIB, part_size=MIB)
    assert MIB < MIN_PART_SIZE
    with pytest.raises(StorageError, match="EntityTooSmall"):
        storage.put_file("videos/job_2.mp4", _file(tmp_path, 3 * MIB), "video/mp4")
    assert s3_bucket.object_keys() == []
    assert s3_bucket.open_uploads() == [], "the multipart upload was aborted"


def test_an_upload_stopped_mid_way_aborts(s3_bucket: Bucket, tmp_path: Path) -> None:
    storage = _storage(s3_bucket, multipart_threshold=5 * MIB, part_size=5 * MIB)
    source = _file(tmp_path, 11 * MIB)

    class Stop(BaseException):
        pass

    original = storage.client.upload_part
    calls = 0

    def upload_part(**kwargs: object) -> object:  # the second part never goes up
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Stop
        return original(**kwargs)  # type: ignore[arg-type]

    storage.client.upload_part = upload_part  # type: ignore[method-assign]
    with pytest.raises(Stop):
        storage.put_file("videos/job_3.mp4", source, "video/mp4")
    assert s3_bucket.object_keys() == [] and s3_bucket.open_uploads() == []


def test_a_stored_object_that_does_not_match_is_deleted(s3_bucket: Bucket, tmp_path: Path) -> None:
    storage = _storage(s3_bucket)
    stored = storage.put_file("videos/job_4.mp4", _file(tmp_path, 1000), "video/mp4")
    with pytest.raises(StorageError, match="did not complete intact"):
        storage.verify("videos/job_4.mp4", size=999, sha256=stored.sha256)
    assert s3_bucket.object_keys() == []


def test_stale_uploads_are_swept(s3_bucket: Bucket) -> None:
    storage = _storage(s3_bucket)
    client = s3_bucket.client()
    client.create_multipart_upload(Bucket=s3_bucket.name, Key="media/videos/dead.mp4")
    assert storage.open_uploads() == ["videos/dead.mp4"]
    # (moto reports every upload as started in 2010, so only "older than ten years" spares it)
    assert storage.abort_stale_uploads(timedelta(days=365 * 30)) == 0
    assert storage.abort_stale_uploads(timedelta(hours=1)) == 1
    assert storage.open_uploads() == []


def test_a_presigned_url_serves_the_object_over_http(s3_bucket: Bucket, tmp_path: Path) -> None:
    storage = _storage(s3_bucket)
    source = _file(tmp_path, 50_000)
    storage.put_file("videos/job_5.mp4", source, "video/mp4", cache_control=IMMUTABLE)
    url = storage.signed_url("videos/job_5.mp4", expires=600, filename="job_5.mp4")
    assert url is not None and "X-Amz-Expires=600" in url and "X-Amz-Signature=" in url
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.content == source.read_bytes()
    assert answer.headers["cache-control"] == IMMUTABLE
    assert answer.headers["content-type"] == "video/mp4"
    assert 'filename="job_5.mp4"' in answer.headers["content-disposition"]
    ranged = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.content == source.read_bytes()[:100]
    tampered = url.replace("job_5", "job_6")
    assert httpx.get(tampered).status_code == 403


def test_copy_is_server_side_and_checked(s3_bucket: Bucket, tmp_path: Path) -> None:
    storage = _storage(s3_bucket)
    stored = storage.put_file("videos/a.mp4", _file(tmp_path, 2000), "video/mp4")
    copied = storage.copy("videos/a.mp4", "videos/b.mp4", "video/mp4", cache_control=IMMUTABLE)
    assert (copied.sha256, copied.size_bytes) == (stored.sha256, 2000)
    info = storage.head("videos/b.mp4")
    assert info is not None and info.cache_control == IMMUTABLE
    with pytest.raises(StorageError, match="no stored object"):
        storage.copy("videos/none.mp4", "videos/c.mp4", "video/mp4")


def test_local_storage_has_the_same_surface(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    source = _file(tmp_path, 5000)
    data = source.read_bytes()
    storage.put_file("videos/x.mp4", source, "video/mp4", cache_control=IMMUTABLE)
    info = storage.head("videos/x.mp4")
    assert info is not None and info.size_bytes == 5000 and info.content_type == "video/mp4"
    assert storage.head("videos/y.mp4") is None
    assert b"".join(storage.open_range("videos/x.mp4", 100, 199)) == data[100:200]
    assert b"".join(storage.open_range("videos/x.mp4", 4990)) == data[4990:]
    assert storage.signed_url("videos/x.mp4", expires=60) is None
    storage.copy("videos/x.mp4", "videos/z.mp4", "video/mp4")
    assert sorted(storage.keys()) == ["videos/x.mp4", "videos/z.mp4"]
    assert list(storage.keys("thumb")) == []
    with pytest.raises(StorageError):
        storage.open_range("videos/none.mp4")


def test_errors_name_the_operation_never_the_credentials(s3_bucket: Bucket, tmp_path: Path) -> None:
    from tests.s3_support import CREDENTIALS

    storage = S3Storage("no-such-bucket", "", endpoint_url=s3_bucket.endpoint)
    with pytest.raises(StorageError) as raised:
        storage.put_file("videos/x.mp4", _file(tmp_path, 100), "video/mp4")
    message = str(raised.value)
    assert "NoSuchBucket" in message and "videos/x.mp4" in message
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in message
    assert CREDENTIALS["AWS_ACCESS_KEY_ID"] not in message


def test_the_storage_url_setting_selects_the_backend(s3_bucket: Bucket) -> None:
    from vidgate.settings import Settings
    from vidgate.storage.select import open_storage

    chosen = open_storage(Settings())
    assert isinstance(chosen, S3Storage)
    assert (chosen.bucket, chosen.prefix) == (s3_bucket.name, "media/")
    assert isinstance(open_storage(Settings(storage_url=None)), LocalStorage)
    with pytest.raises(ValueError, match="s3://bucket"):
        Settings(storage_url="gs://elsewhere")


@pytest.mark.parametrize("backend_name", ["local", "s3"])
def test_content_addressed_puts_share_one_object(
    s3_bucket: Bucket, tmp_path: Path, backend_name: str
) -> None:
    storage: Storage = (
        LocalStorage(tmp_path / "media") if backend_name == "local" else _storage(s3_bucket)
    )
    source = _file(tmp_path, 4000)
    first = put_addressed(storage, source, "video/mp4", suffix=".mp4", cache_control=IMMUTABLE)
    assert first.key == content_key(first.sha256, ".mp4")
    copy = tmp_path / "same.mp4"
    copy.write_bytes(source.read_bytes())
    again = put_addressed(storage, copy, "video/mp4", suffix=".mp4")
    assert again == first and list(storage.keys()) == [first.key]
    with pytest.raises(ValueError):
        content_key("not-a-digest")


def test_the_cors_rule_is_kept_beside_the_operators_own(s3_bucket: Bucket) -> None:
    storage = S3Storage(s3_bucket.name, "media/", endpoint_url=s3_bucket.endpoint)
    assert storage.cors_rules() == []
    theirs = {"ID": "uploads", "AllowedMethods": ["PUT"], "AllowedOrigins": ["https://up.example"]}
    s3_bucket.client().put_bucket_cors(
        Bucket=s3_bucket.name, CORSConfiguration={"CORSRules": [theirs]}
    )
    assert storage.ensure_cors(["https://app.example"]) is True
    assert storage.ensure_cors(["https://app.example"]) is False, "already there: no write"
    assert storage.ensure_cors(["*"]) is True, "changed origins replace vidgate's rule"
    rules = storage.cors_rules()
    assert [r["ID"] for r in rules] == ["uploads", CORS_RULE_ID]
    assert rules[1]["AllowedOrigins"] == ["*"]
