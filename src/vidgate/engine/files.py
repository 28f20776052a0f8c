"""A stored file as the gateway serves it (``Engine.stored_file``): where its bytes are, and the
facts a response needs (size, checksum, type), read from the asset row so serving a request
costs no storage round trip unless the bytes themselves are read.

``signed_url`` is what the HLS route and the content route hand out for a backend with signed
URLs (S3); a local file has none, and the gateway serves it itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..storage import Storage

__all__ = ["StoredFile"]


@dataclass(frozen=True)
class StoredFile:
    storage: Storage
    key: str
    size_bytes: int
    sha256: str
    content_type: str
    #: The file on this host's disk (local storage), else None: read through ``open_range``.
    path: Path | None
    #: Seconds a signed URL lives (``VIDGATE_SIGNED_URL_TTL``).
    ttl: int

    @property
    def filename(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def etag(self) -> str:
        """The strong validator: the SHA-256 of the bytes, quoted."""
        return f'"{self.sha256}"'

    def open_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        return self.storage.open_range(self.key, start, end)

    def signed_url(self, filename: str | None = None) -> str | None:
        """A presigned URL for the bytes (None for local storage)."""
        return self.storage.signed_url(
            self.key,
            expires=self.ttl,
            filename=filename or self.filename,
            content_type=self.content_type,
        )
