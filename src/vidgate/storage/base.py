"""The storage interface every backend (local directory now, S3-compatible later) implements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Storage", "StoredObject"]


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    size_bytes: int
    sha256: str
    content_type: str


@runtime_checkable
class Storage(Protocol):
    """Put, locate and delete objects by key. Keys are ``/``-separated relative paths."""

    def put_file(self, key: str, source: Path, content_type: str) -> StoredObject:
        """Store ``source`` under ``key``, atomically: readers see the old object or the new one."""
        ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str:
        """Where a reader on this host can fetch the object (a path for local storage)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path to the object if the backend has one, else None."""
        ...

    def delete(self, key: str) -> None: ...
