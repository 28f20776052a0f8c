"""The storage interface every backend (a local directory, an S3-compatible bucket) implements."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "IMMUTABLE",
    "ObjectInfo",
    "Storage",
    "StoredObject",
    "content_key",
    "put_addressed",
    "sha256_file",
]

#: The ``Cache-Control`` of an object whose key never names other bytes (an asset version).
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    size_bytes: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class ObjectInfo:
    """What a backend knows about a stored object without reading it (``Storage.head``)."""

    key: str
    size_bytes: int
    #: The hex SHA-256 of the bytes when the backend keeps it (S3: stored with the object);
    #: None when it would have to read the object to say (local files).
    sha256: str | None
    #: The backend's own validator (S3's ETag, a local file's mtime and size), unquoted.
    etag: str
    content_type: str | None
    cache_control: str | None


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def content_key(sha256: str, suffix: str = "") -> str:
    """The content-addressed key of an object (``objects/<sha256><suffix>``): the same bytes
    always land on the same key, so callers that ask for it share one copy."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a hex sha256: {sha256!r}")
    return f"objects/{sha256}{suffix}"


def put_addressed(
    storage: Storage,
    source: Path,
    content_type: str,
    *,
    suffix: str = "",
    cache_control: str | None = None,
) -> StoredObject:
    """Store ``source`` under its content-addressed key (``content_key``). The same bytes
    stored before are not sent again: the existing object is checked (size, and its sha256
    where the backend keeps one) and reused. An object may then be named by several asset
    rows; ``engine/retention.py`` deletes it with the last of them."""
    sha256 = sha256_file(source)
    key = content_key(sha256, suffix)
    found = storage.head(key)
    size = source.stat().st_size
    if found is not None and found.size_bytes == size and found.sha256 in (None, sha256):
        return StoredObject(
            key=key,
            uri=storage.uri(key),
            size_bytes=size,
            sha256=sha256,
            content_type=content_type,
        )
    return storage.put_file(key, source, content_type, cache_control=cache_control)


@runtime_checkable
class Storage(Protocol):
    """Put, locate, read and delete objects by key. Keys are ``/``-separated relative paths."""

    def put_file(
        self,
        key: str,
        source: Path,
        content_type: str,
        *,
        cache_control: str | None = None,
    ) -> StoredObject:
        """Store ``source`` under ``key``, atomically: readers see the old object or the new one.
        ``cache_control`` is kept with the object where the backend can (S3 serves it)."""
        ...

    def copy(
        self,
        source_key: str,
        key: str,
        content_type: str,
        *,
        cache_control: str | None = None,
    ) -> StoredObject:
        """Store a copy of the object at ``source_key`` under ``key`` (on S3, a server-side copy:
        the bytes never pass through this host). Raises ``StorageError`` when the source is
        missing."""
        ...

    def exists(self, key: str) -> bool: ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, checksum and headers; None when there is no such object."""
        ...

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` (inclusive; None: to the end) in chunks, never the
        whole object in memory. Raises ``StorageError`` when the object is missing."""
        ...

    def signed_url(
        self,
        key: str,
        *,
        expires: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A URL anyone holding it can fetch the object from for ``expires`` seconds, or None
        when the backend has none (local storage: the gateway serves those bytes itself)."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix`` (a plain string prefix), in no promised order."""
        ...

    def uri(self, key: str) -> str:
        """Where a reader can fetch the object (a path for local storage, s3://… for S3)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path to the object if the backend has one, else None."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
        ...
