"""Where finished media lives: a ``Storage`` interface, with a local-directory backend and an
S3-compatible one (``storage/s3.py``, the ``s3`` extra), chosen by ``storage.select``."""

from __future__ import annotations

from .base import IMMUTABLE, ObjectInfo, Storage, StoredObject, content_key, put_addressed
from .local import LocalStorage

__all__ = [
    "IMMUTABLE",
    "LocalStorage",
    "ObjectInfo",
    "Storage",
    "StoredObject",
    "content_key",
    "put_addressed",
]
