"""Where finished media lives: a ``Storage`` interface, with a local-directory backend."""

from __future__ import annotations

from .base import Storage, StoredObject
from .local import LocalStorage

__all__ = ["LocalStorage", "Storage", "StoredObject"]
