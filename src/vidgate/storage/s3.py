"""S3-compatible storage (AWS S3, and anything that speaks its wire protocol): the ``s3`` extra.

Chosen by ``VIDGATE_STORAGE_URL=s3://bucket/prefix`` (``storage/select.py``), with
``VIDGATE_S3_ENDPOINT_URL`` for a non-AWS server and the usual AWS credential chain (environment,
shared config and credentials files, instance or task role). Credentials are boto3's business:
vidgate never reads, logs or repeats them.

- **Writes** stream the file: one ``PutObject`` below ``VIDGATE_S3_MULTIPART_THRESHOLD``, else a
  multipart upload in ``VIDGATE_S3_PART_SIZE`` parts (one part in memory at a time). Every part
  carries its SHA-256, which the server checks against the bytes it received; the object keeps
  ``Content-Type``, ``Cache-Control`` and the whole file's hex SHA-256 (metadata ``sha256``).
- **A write is checked** by a ``HeadObject`` right after it: the size, the server's SHA-256
  checksum (whole, or composite over the parts) and the metadata must be what was sent. A
  mismatch deletes the object and raises ``StorageError``; a failure half way through a multipart
  upload aborts it, so no half object and no open upload is left (``abort_stale_uploads`` sweeps
  what a killed process left).
- **Reads** are ranged ``GetObject`` streams; ``signed_url`` presigns a ``GetObject``.
- **CORS**: a browser reading a presigned URL from a page on another origin (hls.js's segment
  requests; native HLS in a ``crossorigin`` video element) needs a CORS rule on the bucket.
  ``ensure_cors`` keeps vidgate's own rule there (``VIDGATE_S3_CORS_ORIGINS``), other rules
  untouched.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..exceptions import StorageError
from .base import ObjectInfo, StoredObject, sha256_file

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["CORS_RULE_ID", "MIN_PART_SIZE", "S3Storage", "parse_s3_url"]

#: S3's smallest part (all but the last part of a multipart upload).
MIN_PART_SIZE = 5 * 1024 * 1024
_CHUNK = 1 << 20
#: The bucket CORS rule vidgate keeps when ``VIDGATE_S3_CORS_ORIGINS`` is set.
CORS_RULE_ID = "vidgate-playback"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix/")`` (the prefix ends in ``/``
    unless empty)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError("an s3:// storage URL names a bucket: s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Storage:
    """Objects in ``bucket`` under ``prefix``; the same keys as ``LocalStorage``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.client: S3Client = client or _client(endpoint_url, region)

    # -- keys ------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise StorageError(f"invalid storage key {key!r}")
        return self.prefix + key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def local_path(self, key: str) -> Path | None:
        return None

    # -- writes ----------------------------------------------------------------------------

    def put_file(
        self,
        key: str,
        source: Path,
        content_type: str,
        *,
        cache_control: str | None = None,
    ) -> StoredObject:
        name = self._key(key)
        try:
            size = source.stat().st_size
            sha256 = sha256_file(source)
        except OSError as exc:
            raise StorageError(f"could not read {source.name} to store it: {exc}") from exc
        extra: dict[str, Any] = {"ContentType": content_type, "Metadata": {"sha256": sha256}}
        if cache_control:
            extra["CacheControl"] = cache_control
        if size < self.multipart_threshold:
            checksum = _b64(bytes.fromhex(sha256))
            with _errors("upload", key), source.open("rb") as body:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=body,
                    ContentLength=size,
                    ChecksumSHA256=checksum,
                    **extra,
                )
        else:
            checksum = self._multipart(name, key, source, extra)
        self.verify(key, size=size, sha256=sha256, checksum=checksum)
        return StoredObject(
            key=key, uri=self.uri(key), size_bytes=size, sha256=sha256, content_type=content_type
        )

    def _multipart(self, name: str, key: str, source: Path, extra: dict[str, Any]) -> str:
        """Upload in parts; the composite checksum S3 will report. Any failure (or interrupt)
        after the upload was created aborts it before the error goes on."""
        with _errors("upload", key):
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=name, ChecksumAlgorithm="SHA256", **extra
            )["UploadId"]
        parts: list[dict[str, Any]] = []
        digests = bytearray()
        try:
            with _errors("upload", key), source.open("rb") as handle:
                number = 1
                while chunk := handle.read(self.part_size):
                    digest = hashlib.sha256(chunk).digest()
                    answer = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                        ChecksumSHA256=_b64(digest),
                    )
                    parts.append(
                        {
                            "PartNumber": number,
                            "ETag": answer["ETag"],
                            "ChecksumSHA256": _b64(digest),
                        }
                    )
                    digests += digest
                    number += 1
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException:
            self._abort(name, upload_id)
            raise
        return f"{_b64(hashlib.sha256(bytes(digests)).digest())}-{len(parts)}"

    def _abort(self, name: str, upload_id: str) -> None:
        # Best effort: abort_stale_uploads (the sweeper) and lifecycle rules are the backstop.
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)

    def verify(self, key: str, *, size: int, sha256: str, checksum: str | None = None) -> None:
        """Check the stored object against what was sent (size, checksum, metadata); on a
        mismatch delete it and raise ``StorageError``."""
        name = self._key(key)
        with _errors("check", key):
            head = self.client.head_object(Bucket=self.bucket, Key=name, ChecksumMode="ENABLED")
        problems = []
        if head["ContentLength"] != size:
            problems.append(f"{head['ContentLength']} bytes stored, {size} sent")
        stored_checksum = head.get("ChecksumSHA256")
        # A composite checksum is ``<base64>-<parts>`` (some servers leave the count off).
        if (
            checksum is not None
            and stored_checksum is not None
            and stored_checksum.split("-")[0] != checksum.split("-")[0]
        ):
            problems.append("the server's SHA-256 checksum differs from the bytes sent")
        if head.get("Metadata", {}).get("sha256") != sha256:
            problems.append("the stored sha256 metadata differs")
        if problems:
            self.delete(key)
            raise StorageError(
                f"the upload of {key!r} did not complete intact ({'; '.join(problems)}); "
                "the object was deleted"
            )

    def copy(
        self,
        source_key: str,
        key: str,
        content_type: str,
        *,
        cache_control: str | None = None,
    ) -> StoredObject:
        info = self.head(source_key)
        if info is None:
            raise StorageError(f"no stored object {source_key!r} to copy")
        sha256 = info.sha256
        if sha256 is None:
            raise StorageError(f"stored object {source_key!r} has no sha256 metadata")
        extra: dict[str, Any] = {
            "MetadataDirective": "REPLACE",
            "ContentType": content_type,
            "Metadata": {"sha256": sha256},
        }
        if cache_control:
            extra["CacheControl"] = cache_control
        with _errors("copy", key):
            # The managed copy: a server-side CopyObject, or UploadPartCopy for a large object.
            self.client.copy(
                {"Bucket": self.bucket, "Key": self._key(source_key)},
                self.bucket,
                self._key(key),
                ExtraArgs=extra,
            )
        self.verify(key, size=info.size_bytes, sha256=sha256)
        return StoredObject(
            key=key,
            uri=self.uri(key),
            size_bytes=info.size_bytes,
            sha256=sha256,
            content_type=content_type,
        )

    def delete(self, key: str) -> None:
        with _errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def abort_stale_uploads(self, older_than: timedelta) -> int:
        """Abort the multipart uploads under the prefix started before ``older_than`` ago
        (left by a process that died mid-upload); how many."""
        cutoff = datetime.now(UTC) - older_than
        aborted = 0
        with _errors("list uploads of", self.prefix or "/"):
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self._abort(upload["Key"], upload["UploadId"])
                        aborted += 1
        return aborted

    def open_uploads(self) -> list[str]:
        """The keys with a multipart upload still open under the prefix."""
        with _errors("list uploads of", self.prefix or "/"):
            answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
        return [u["Key"][len(self.prefix) :] for u in answer.get("Uploads", [])]

    # -- bucket configuration --------------------------------------------------------------

    def cors_rules(self) -> list[dict[str, Any]]:
        """The bucket's CORS rules (none: an empty list)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_bucket_cors(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchCORSConfiguration":
                return []
            raise _storage_error("read the CORS rules of", self.bucket, exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("read the CORS rules of", self.bucket, exc) from exc
        return [dict(rule) for rule in answer.get("CORSRules", [])]

    def ensure_cors(self, origins: list[str]) -> bool:
        """Keep the rule ``vidgate-playback`` on the bucket: GET and HEAD from ``origins`` with
        the headers a player sends (``Range``, ``If-None-Match``, ``If-Range``) and the ones it
        reads (``ETag``, ``Content-Range``…). The bucket's other rules are kept. True when the
        bucket changed (False: the rule was already there as wanted)."""
        wanted: dict[str, Any] = {
            "ID": CORS_RULE_ID,
            "AllowedMethods": ["GET", "HEAD"],
            "AllowedOrigins": list(origins),
            "AllowedHeaders": ["Range", "If-None-Match", "If-Range"],
            "ExposeHeaders": ["Accept-Ranges", "Content-Length", "Content-Range", "ETag"],
            "MaxAgeSeconds": 86400,
        }
        rules = self.cors_rules()
        if any(rule == wanted for rule in rules):
            return False
        others = [rule for rule in rules if rule.get("ID") != CORS_RULE_ID]
        configuration: Any = {"CORSRules": [*others, wanted]}
        with _errors("set the CORS rules of", self.bucket):
            self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration=configuration)
        return True

    # -- reads -----------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._key(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise _storage_error("look up", key, exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("look up", key, exc) from exc
        return ObjectInfo(
            key=key,
            size_bytes=head["ContentLength"],
            sha256=head.get("Metadata", {}).get("sha256"),
            etag=head["ETag"].strip('"'),
            content_type=head.get("ContentType"),
            cache_control=head.get("CacheControl"),
        )

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Lazy: the ``GetObject`` is sent on the first ``next()``, so a server that streams
        the iterator from a worker thread never waits for S3 on its event loop."""
        name = self._key(key)
        kwargs: dict[str, Any] = {}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        with _errors("read", key):
            answer = self.client.get_object(Bucket=self.bucket, Key=name, **kwargs)
        body = answer["Body"]
        try:
            with _errors("read", key):
                yield from body.iter_chunks(_CHUNK)
        finally:
            body.close()

    def signed_url(
        self,
        key: str,
        *,
        expires: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "download"
            params["ResponseContentDisposition"] = f'inline; filename="{safe}"'
        if content_type:
            params["ResponseContentType"] = content_type
        with _errors("sign", key):
            url = self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, int(expires))
            )
        return url

    def keys(self, prefix: str = "") -> Iterator[str]:
        with _errors("list", prefix or "/"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]


def _client(endpoint_url: str | None, region: str | None) -> S3Client:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - the extra is missing
        from ..exceptions import ConfigurationError

        raise ConfigurationError("s3:// storage needs boto3: pip install 'vidgate[s3]'") from exc
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        # A non-AWS server (MinIO, Ceph, R2, moto…) is addressed by path, not by bucket host name.
        s3={"addressing_style": "path"} if endpoint_url else {},
        signature_version="s3v4",
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _status(exc: Any) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _storage_error(action: str, key: str, exc: BaseException) -> StorageError:
    """A storage error naming the operation, the key and the server's error code: never the
    request, its headers or the credentials."""
    code = (
        getattr(exc, "response", {}).get("Error", {}).get("Code")
        if hasattr(exc, "response")
        else None
    )
    reason = code or type(exc).__name__
    return StorageError(f"S3 could not {action} {key!r}: {reason}")


@contextlib.contextmanager
def _errors(action: str, key: str) -> Iterator[None]:
    """Turn botocore's errors (and a source file's) into ``StorageError``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise _storage_error(action, key, exc) from exc
    except OSError as exc:
        raise StorageError(f"could not {action} {key!r}: {exc.strerror or exc}") from exc
