"""Local-directory storage: the default, and the layout an S3 backend mirrors (same keys)."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..exceptions import StorageError
from .base import ObjectInfo, StoredObject, sha256_file

__all__ = ["LocalStorage", "sha256_file"]

_CHUNK = 1 << 20
#: Files a put is still writing (``mkstemp`` beside the target): never listed as keys.
_INCOMING = ".incoming-"


class LocalStorage:
    """Objects are files under ``root``; a key is a relative path that may not escape it.

    A file keeps no headers of its own: ``head`` guesses the content type from the suffix, and
    the gateway serves these bytes itself (with the asset row's type and checksum), so there is
    no signed URL."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise StorageError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    def put_file(
        self,
        key: str,
        source: Path,
        content_type: str,
        *,
        cache_control: str | None = None,
    ) -> StoredObject:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_INCOMING)
            digest = hashlib.sha256()
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return StoredObject(
                key=key,
                uri=str(target),
                size_bytes=target.stat().st_size,
                sha256=digest.hexdigest(),
                content_type=content_type,
            )
        except OSError as exc:
            raise StorageError(f"could not store {key!r} under {self.root}: {exc}") from exc

    def copy(
        self,
        source_key: str,
        key: str,
        content_type: str,
        *,
        cache_control: str | None = None,
    ) -> StoredObject:
        source = self._path(source_key)
        if not source.is_file():
            raise StorageError(f"no stored object {source_key!r} to copy")
        return self.put_file(key, source, content_type, cache_control=cache_control)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return ObjectInfo(
            key=key,
            size_bytes=stat.st_size,
            sha256=None,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            content_type=mimetypes.guess_type(path.name)[0],
            cache_control=None,
        )

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise StorageError(f"could not read stored object {key!r}: {exc}") from exc
        return _chunks(handle, start, end)

    def signed_url(
        self,
        key: str,
        *,
        expires: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        return None

    def keys(self, prefix: str = "") -> Iterator[str]:
        if not self.root.is_dir():
            return
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(_INCOMING):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _chunks(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    """Read ``start``..``end`` (inclusive) from an open binary file, closing it at the end."""
    with handle:
        handle.seek(start)
        left = None if end is None else end - start + 1
        while left is None or left > 0:
            chunk = handle.read(_CHUNK if left is None else min(_CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk
