"""One embedded Qdrant Edge shard shared by several processes on one ``SAGE_HOME``, by lease.

A Qdrant Edge shard can be open in one process at a time (its write-ahead log is locked), yet
one machine runs a clinician's CLI, an HTTP server and a batch job on the same home. So no
process keeps the shard for itself: :class:`SharedEdgeStore` opens it only while it holds an
exclusive ``flock`` on ``<shard>.lease``, and hands it over when another process asks.

- The holder keeps the shard open between operations (a single process pays the open once),
  and a background thread releases it - after the operation in progress, flushed - as soon as
  a request file appears in ``<shard>.want/``.
- A process that finds the lease taken drops a request file there and polls the lock until
  it gets it (or ``wait_s`` passes: :class:`StoreLockedError`).
- After handing over, a holder waits until the requests it saw are served before asking
  again, so two busy processes alternate instead of one starving the other.

Each operation therefore sees every write flushed by earlier holders (the shard is loaded
fresh on each acquisition). Operations in one process are serialized by a lock; a long
operation (``optimize`` of a large shard) makes the others wait, which is what the engine
requires anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lakehouse.semantic.base import (
    CasePoint,
    CollectionMissingError,
    ProgressCallback,
    SearchFilter,
    SearchHit,
    StoreLockedError,
)
from lakehouse.semantic.edge import EdgeStore

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_S = 0.02


class SharedEdgeStore:
    """:class:`~lakehouse.semantic.base.SemanticStore` over an Edge shard leased between processes.

    Args:
        path: Folder holding shards (``settings.qdrant_path``).
        collection: Shard name.
        wait_s: How long an operation waits for another process to hand the shard over.
    """

    def __init__(self, path: Path, collection: str = "cases", *, wait_s: float = 300.0) -> None:
        self.root = Path(path)
        self.collection = collection
        self.path = self.root / collection
        self.wait_s = wait_s
        self._lease_file = self.root / f"{collection}.lease"
        self._want_dir = self.root / f"{collection}.want"
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._ops = threading.RLock()
        self._fd: int | None = None
        self._store: EdgeStore | None = None
        self._served: set[str] = set()  # requests we released for; we wait until they are gone
        self._closed = False
        self._watcher: threading.Thread | None = None
        self.handovers = 0  # how many times this process released the shard to another

    # -- lease ------------------------------------------------------------------------------
    def _others_waiting(self) -> set[str]:
        try:
            return {p.name for p in self._want_dir.iterdir() if p.name != self._token}
        except FileNotFoundError:
            return set()

    def _acquire(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._want_dir.mkdir(exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        while self._served & self._others_waiting() and time.monotonic() < deadline:
            time.sleep(POLL_S)  # let the processes we handed over to take their turn first
        self._served.clear()
        fd = os.open(self._lease_file, os.O_RDWR | os.O_CREAT, 0o600)
        want = self._want_dir / self._token
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreLockedError(
                            f"Qdrant Edge shard {self.path} stayed leased by another process for {self.wait_s:.0f}s",
                            hint="a long operation (ingest, optimize) holds it; retry later, or set SAGE_QDRANT_URL to use a Qdrant server",
                        ) from None
                    want.touch()
                    time.sleep(POLL_S)
        except BaseException:
            os.close(fd)
            want.unlink(missing_ok=True)
            raise
        want.unlink(missing_ok=True)
        self._fd = fd
        try:
            self._store = EdgeStore(self.root, self.collection)
        except BaseException:
            self._release()
            raise
        self._start_watcher()

    def _release(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _start_watcher(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch, name=f"edge-lease-{self.collection}", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        """Hand the shard over when another process asks, between operations."""
        while not self._closed and self._fd is not None:
            waiting = self._others_waiting()
            if waiting and self._ops.acquire(timeout=POLL_S):
                try:
                    if self._fd is not None:
                        self._release()
                        self._served = waiting
                        self.handovers += 1
                        log.debug("handed Qdrant Edge shard %s over to %s", self.path, sorted(waiting))
                finally:
                    self._ops.release()
                return
            time.sleep(POLL_S)

    def _run(self, action: Callable[[EdgeStore], T]) -> T:
        with self._ops:
            if self._closed:
                from lakehouse.semantic.base import SemanticStoreError

                raise SemanticStoreError(f"semantic store {self.path} is closed", hint="open a new one (Resources.for_settings)")
            if self._store is None:
                self._acquire()
            assert self._store is not None
            try:
                return action(self._store)
            except CollectionMissingError:
                self._release()  # nothing to hold on to: the next operation looks again (another process may create it)
                raise

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Hold the shard across several operations (no handover in between), e.g. one search batch."""
        with self._ops:
            yield

    # -- SemanticStore ------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """False after :meth:`close`."""
        return not self._closed

    def close(self) -> None:
        """Flush and hand back the shard for good (idempotent)."""
        with self._ops:
            self._closed = True
            self._release()

    def ensure_collection(self, vectors: dict[str, int]) -> None:  # noqa: D102 - see SemanticStore
        self._run(lambda s: s.ensure_collection(vectors))

    def optimize(self, progress: ProgressCallback | None = None) -> None:  # noqa: D102
        self._run(lambda s: s.optimize(progress))

    def upsert(self, points: Sequence[CasePoint], batch_size: int = 256) -> None:  # noqa: D102
        # One lease per batch, so a concurrent reader waits for one batch, not the whole ingest.
        for start in range(0, len(points), batch_size):
            chunk = points[start : start + batch_size]
            self._run(lambda s, chunk=chunk: s.upsert(chunk, batch_size))  # type: ignore[misc]

    def set_payload(self, case_id: str, payload: dict[str, Any]) -> None:  # noqa: D102
        self._run(lambda s: s.set_payload(case_id, payload))

    def set_vector(self, case_id: str, name: str, vector: Sequence[float]) -> None:  # noqa: D102
        self._run(lambda s: s.set_vector(case_id, name, vector))

    def delete(self, case_ids: Sequence[str]) -> None:  # noqa: D102
        self._run(lambda s: s.delete(case_ids))

    def search(self, vector: Sequence[float], *, using: str = "text", filter: SearchFilter | None = None, limit: int = 10) -> list[SearchHit]:  # noqa: D102
        return self._run(lambda s: s.search(vector, using=using, filter=filter, limit=limit))

    def search_batch(self, vectors: Sequence[Sequence[float]], *, using: str = "text", filters: Sequence[SearchFilter | None] | None = None, limit: int = 10) -> list[list[SearchHit]]:  # noqa: D102
        return self._run(lambda s: s.search_batch(vectors, using=using, filters=filters, limit=limit))

    def similarities(self, vector: Sequence[float], *, using: str, case_ids: Sequence[str]) -> dict[str, float]:  # noqa: D102
        return self._run(lambda s: s.similarities(vector, using=using, case_ids=case_ids))

    def retrieve(self, case_ids: Sequence[str], with_vectors: bool = False) -> list[CasePoint]:  # noqa: D102
        return self._run(lambda s: s.retrieve(case_ids, with_vectors=with_vectors))

    def count(self, filter: SearchFilter | None = None) -> int:  # noqa: D102
        return self._run(lambda s: s.count(filter))

    def scroll(self, filter: SearchFilter | None = None, limit: int = 1000) -> list[CasePoint]:  # noqa: D102
        return self._run(lambda s: s.scroll(filter, limit))
