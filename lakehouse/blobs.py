"""Content-addressed blob store for image bytes (and any other large binary asset).

A blob's name is the sha256 of its bytes, so the same image ingested twice is stored once and
a raw-tier row can reference it by hash forever (blobs are immutable). Files live in sharded
folders (``ab/cd/abcdef...``) to keep directories small; writes go to a temporary file in the
same folder and are renamed into place, so a crash never leaves a partial blob under its name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from core.errors import SageError
from core.settings import Settings

_SHA = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFoundError(SageError):
    """No blob with this hash (or the hash is not a sha256 hex digest)."""


class BlobStore:
    """Immutable, deduplicated byte storage under ``settings.blobs_dir``."""

    def __init__(self, settings: Settings) -> None:
        self.root: Path = settings.blobs_dir

    def path(self, sha: str) -> Path:
        """Where the blob with this sha256 lives (whether or not it exists)."""
        if not _SHA.match(sha):
            raise BlobNotFoundError(f"{sha!r} is not a sha256 hex digest", hint="blob ids are 64 lowercase hex characters")
        return self.root / sha[:2] / sha[2:4] / sha

    def exists(self, sha: str) -> bool:
        """Whether the blob is stored."""
        return self.path(sha).is_file()

    def put(self, data: bytes) -> str:
        """Store bytes and return their sha256 (a no-op when already stored)."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.is_file():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def get(self, sha: str) -> bytes:
        """The bytes of a blob.

        Raises:
            BlobNotFoundError: no such blob.
        """
        path = self.path(sha)
        if not path.is_file():
            raise BlobNotFoundError(f"blob {sha} not found under {self.root}", hint="re-ingest the image or check SAGE_HOME")
        return path.read_bytes()
