"""Embedded semantic store: a Qdrant Edge shard in ``SAGE_HOME/qdrant/<collection>``.

Qdrant Edge runs Qdrant's engine in-process (HNSW, payload indexes, filtered search) with no
server, which is what makes the whole system work offline on one machine. The price is a
single-process lock: the shard's write-ahead log is locked by whoever opened it, so a second
process (or a second open in the same process) fails; :class:`StoreLockedError` says so and
how to get out (stop the other process, or point ``SAGE_QDRANT_URL`` at a server).
``lakehouse.semantic.open_store`` keeps one open store per path per process for that reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from lakehouse.semantic import filters
from lakehouse.semantic.base import (
    PAYLOAD_INDEXES,
    CasePoint,
    CollectionMissingError,
    PointNotFoundError,
    ProgressCallback,
    SearchFilter,
    SearchHit,
    SemanticStoreError,
    StoreLockedError,
    as_list,
    case_point_from,
    checked_vector,
    hit_from,
    point_id,
)

log = logging.getLogger(__name__)

_SCHEMA = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer, "float": qe.PayloadSchemaType.Float}
_LOCK_MARKERS = ("WouldBlock", "lock")


class EdgeStore:
    """:class:`~lakehouse.semantic.base.SemanticStore` on an embedded Qdrant Edge shard.

    Args:
        path: Folder holding shards (``settings.qdrant_path``).
        collection: Shard name; the shard lives in ``path / collection``.
    """

    def __init__(self, path: Path, collection: str = "cases") -> None:
        self.path = Path(path) / collection
        self.collection = collection
        self._shard: qe.EdgeShard | None = None
        self._closed = False
        if (self.path / "edge_config.json").is_file():
            self._shard = self._guard(lambda: qe.EdgeShard.load(str(self.path)))

    # -- lifecycle -------------------------------------------------------------------------
    def _guard(self, action: Any) -> Any:
        """Run a shard open, turning the engine's lock failure into a StoreLockedError."""
        try:
            return action()
        except Exception as exc:  # qdrant_edge raises plain Exception with the engine's message
            if any(marker in str(exc) for marker in _LOCK_MARKERS):
                raise StoreLockedError(
                    f"Qdrant Edge shard {self.path} is locked by another process or another open store ({exc})",
                    hint="stop the other sagehealth process using this SAGE_HOME, or set SAGE_QDRANT_URL to use a Qdrant server",
                ) from exc
            raise SemanticStoreError(f"cannot open Qdrant Edge shard {self.path}: {exc}", hint=f"check or delete {self.path} and re-ingest") from exc

    @property
    def is_open(self) -> bool:
        """False after :meth:`close`."""
        return not self._closed

    @property
    def shard(self) -> qe.EdgeShard:
        """The open shard; raises when nothing has been ingested yet."""
        if self._closed:
            raise SemanticStoreError(f"semantic store {self.path} is closed", hint="open it again with lakehouse.semantic.open_store")
        if self._shard is None:
            raise CollectionMissingError(f"no Qdrant Edge shard at {self.path}", hint="run `sagehealth ingest` first")
        return self._shard

    def ensure_collection(self, vectors: dict[str, int]) -> None:
        """Create the shard (named cosine vectors) and every payload index if missing."""
        if self._shard is None:
            config = qe.EdgeConfig(vectors={name: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine) for name, dim in vectors.items()})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._shard = self._guard(lambda: qe.EdgeShard.create(str(self.path), config))
        existing = set(self.shard.info().payload_schema)
        for field, kind in PAYLOAD_INDEXES.items():
            if field not in existing:
                self.shard.update(qe.UpdateOperation.create_field_index(field, _SCHEMA[kind]))

    def optimize(self, progress: ProgressCallback | None = None) -> None:
        """Merge segments and build HNSW; blocking (seconds at 10k points, minutes at 160k)."""
        if progress:
            progress(0, 1)
        started = time.perf_counter()
        changed = self.shard.optimize()
        info = self.shard.info()
        log.info("optimized %s in %.1fs (changed=%s, segments=%d, indexed vectors=%d)", self.path, time.perf_counter() - started, changed, info.segments_count, info.indexed_vectors_count)
        if progress:
            progress(1, 1)

    def close(self) -> None:
        """Flush and release the shard's lock (idempotent)."""
        if self._shard is not None and not self._closed:
            self._shard.flush()
            self._shard.close()
        self._shard = None
        self._closed = True

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, points: Sequence[CasePoint], batch_size: int = 256) -> None:
        """Insert or replace whole points (vectors and payload), ``batch_size`` per update."""
        for start in range(0, len(points), batch_size):
            batch = [
                qe.Point(point_id(p.case_id), dict(p.vectors), {**p.payload, "case_id": p.case_id})  # type: ignore[arg-type]
                for p in points[start : start + batch_size]
            ]
            self.shard.update(qe.UpdateOperation.upsert_points(batch))

    def set_payload(self, case_id: str, payload: dict[str, Any]) -> None:
        """Merge top-level ``payload`` keys into one point (a nested dict such as labels is replaced whole)."""
        pid = point_id(case_id)
        if not self.shard.retrieve([pid], False, False):
            raise PointNotFoundError(f"case {case_id!r} is not in semantic store {self.path}", hint="ingest the case before relabelling it")
        self.shard.update(qe.UpdateOperation.set_payload([pid], payload))

    def set_vector(self, case_id: str, name: str, vector: Sequence[float]) -> None:
        """Set (or replace) one named vector of an existing point; its other vectors and payload stay."""
        values = checked_vector(name, vector)
        pid = point_id(case_id)
        if not self.shard.retrieve([pid], False, False):
            raise PointNotFoundError(f"case {case_id!r} is not in semantic store {self.path}", hint="ingest the case's report before its image")
        self.shard.update(qe.UpdateOperation.update_vectors([qe.PointVectors(pid, {name: values})]))

    def delete(self, case_ids: Sequence[str]) -> None:
        """Remove points; unknown ids are ignored."""
        if case_ids:
            self.shard.update(qe.UpdateOperation.delete_points([point_id(c) for c in case_ids]))  # type: ignore[arg-type]

    # -- reads ------------------------------------------------------------------------------
    def _request(self, vector: Sequence[float], using: str, f: SearchFilter | None, limit: int) -> qe.QueryRequest:
        return qe.QueryRequest(limit=limit, query=qe.Query.Nearest(as_list(vector), using=using), filter=filters.to_edge(f), with_payload=True)

    def search(self, vector: Sequence[float], *, using: str = "text", filter: SearchFilter | None = None, limit: int = 10) -> list[SearchHit]:
        """Top-``limit`` by cosine on ``using``; the filter is applied inside HNSW traversal."""
        return [hit_from(p) for p in self.shard.query(self._request(vector, using, filter, limit))]

    def search_batch(self, vectors: Sequence[Sequence[float]], *, using: str = "text", filters: Sequence[SearchFilter | None] | None = None, limit: int = 10) -> list[list[SearchHit]]:
        """Several searches planned as one batch (shared pass over segments)."""
        fs = list(filters) if filters is not None else [None] * len(vectors)
        if len(fs) != len(vectors):
            raise ValueError(f"search_batch got {len(vectors)} vectors but {len(fs)} filters")
        if not vectors:
            return []
        requests = [self._request(v, using, f, limit) for v, f in zip(vectors, fs, strict=True)]
        return [[hit_from(p) for p in hits] for hits in self.shard.query_batch(qe.QueryBatchRequest(requests))]

    def similarities(self, vector: Sequence[float], *, using: str, case_ids: Sequence[str]) -> dict[str, float]:
        """Scores of the listed points only (an id filter), no payload."""
        if not case_ids:
            return {}
        ids = {point_id(c): c for c in case_ids}
        request = qe.QueryRequest(limit=len(ids), query=qe.Query.Nearest(as_list(vector), using=using), filter=qe.Filter(must=[qe.HasIdCondition(set(ids))]), with_payload=False)  # type: ignore[arg-type]
        return {ids[str(p.id)]: float(p.score) for p in self.shard.query(request) if str(p.id) in ids}

    def retrieve(self, case_ids: Sequence[str], with_vectors: bool = False) -> list[CasePoint]:
        """Points in the order asked; missing ids skipped."""
        if not case_ids:
            return []
        records = self.shard.retrieve([point_id(c) for c in case_ids], True, with_vectors)  # type: ignore[arg-type]
        by_id = {str(r.id): r for r in records}
        return [case_point_from(by_id[point_id(c)]) for c in case_ids if point_id(c) in by_id]

    def count(self, filter: SearchFilter | None = None) -> int:
        """Exact number of points matching the filter."""
        return int(self.shard.count(qe.CountRequest(exact=True, filter=filters.to_edge(filter))))

    def scroll(self, filter: SearchFilter | None = None, limit: int = 1000) -> list[CasePoint]:
        """Up to ``limit`` matching points in point-id order, paging through the shard."""
        out: list[CasePoint] = []
        offset: Any = None
        edge_filter = filters.to_edge(filter)
        while len(out) < limit:
            records, offset = self.shard.scroll(qe.ScrollRequest(offset=offset, limit=min(limit - len(out), 1000), filter=edge_filter, with_payload=True))
            out.extend(case_point_from(r) for r in records)
            if offset is None or not records:
                break
        return out

