from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vidgate.exceptions import StorageError
from vidgate.storage import LocalStorage, Storage


def test_put_is_atomic_and_reports_size_and_digest(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    assert isinstance(storage, Storage)
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x" * 5000)
    stored = storage.put_file("videos/job_1.mp4", source, "video/mp4")
    assert stored.size_bytes == 5000
    assert stored.sha256 == hashlib.sha256(b"x" * 5000).hexdigest()
    assert Path(stored.uri).read_bytes() == b"x" * 5000
    assert storage.exists("videos/job_1.mp4")
    # No temporary file is left beside the object.
    assert [p.name for p in (tmp_path / "media" / "videos").iterdir()] == ["job_1.mp4"]
    storage.delete("videos/job_1.mp4")
    assert not storage.exists("videos/job_1.mp4")


@pytest.mark.parametrize("key", ["../escape.mp4", "/abs.mp4", "a/../../b", ""])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        LocalStorage(tmp_path).uri(key)
