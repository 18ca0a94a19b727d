from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.settings import Settings
from lakehouse.blobs import BlobNotFoundError, BlobStore


def test_put_get_is_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    store = BlobStore(Settings(home=tmp_path))
    data = b"\x89PNG fake bytes"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.put(data) == sha
    assert store.get(sha) == data and store.exists(sha)
    assert store.path(sha).relative_to(tmp_path / "blobs").parts[:2] == (sha[:2], sha[2:4])
    assert [p for p in store.path(sha).parent.iterdir()] == [store.path(sha)]  # no temp files left


def test_missing_and_invalid_ids(tmp_path: Path) -> None:
    store = BlobStore(Settings(home=tmp_path))
    with pytest.raises(BlobNotFoundError):
        store.get("0" * 64)
    with pytest.raises(BlobNotFoundError, match="not a sha256"):
        store.path("../../etc/passwd")
