"""Semantic store through ``qdrant-client``: a Qdrant server (``SAGE_QDRANT_URL``) or local mode.

This is the scale-out path: a server or cluster holds the collection and any number of
processes share it. Local mode (``QdrantClient(":memory:")`` or ``path=``) runs the same client
API in pure Python; the test suite uses it to check that this backend and :class:`EdgeStore`
answer every operation identically.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qdrant_client import models as qm

from lakehouse.semantic import filters
from lakehouse.semantic.base import (
    PAYLOAD_INDEXES,
    CasePoint,
    CollectionMissingError,
    PointNotFoundError,
    ProgressCallback,
    SearchFilter,
    SearchHit,
    as_list,
    case_point_from,
    checked_vector,
    hit_from,
    point_id,
)

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

log = logging.getLogger(__name__)

_SCHEMA = {"keyword": qm.PayloadSchemaType.KEYWORD, "integer": qm.PayloadSchemaType.INTEGER, "float": qm.PayloadSchemaType.FLOAT}


class ClientStore:
    """:class:`~lakehouse.semantic.base.SemanticStore` over a ``QdrantClient``.

    Args:
        client: A connected client (server URL, or local mode for tests and small setups).
        collection: Collection name (``settings.qdrant_collection``).
    """

    def __init__(self, client: QdrantClient, collection: str = "cases") -> None:
        self.client = client
        self.collection = collection
        self._closed = False
        self._exists = False

    @property
    def is_open(self) -> bool:
        """False after :meth:`close`."""
        return not self._closed

    def _require(self) -> None:
        if not self._exists:
            self._exists = self.client.collection_exists(self.collection)
            if not self._exists:
                raise CollectionMissingError(f"Qdrant collection {self.collection!r} does not exist", hint="run `sagehealth ingest` first")

    def ensure_collection(self, vectors: dict[str, int]) -> None:
        """Create the collection (named cosine vectors) and payload indexes if missing."""
        if not self.client.collection_exists(self.collection):
            self.client.create_collection(
                self.collection,
                vectors_config={name: qm.VectorParams(size=dim, distance=qm.Distance.COSINE) for name, dim in vectors.items()},
            )
        with warnings.catch_warnings():
            # Local mode warns that indexes have no effect there; a server builds them.
            warnings.simplefilter("ignore", UserWarning)
            for field, kind in PAYLOAD_INDEXES.items():
                self.client.create_payload_index(self.collection, field, _SCHEMA[kind], wait=True)
        self._exists = True

    def optimize(self, progress: ProgressCallback | None = None) -> None:
        """A server indexes in the background; nothing to do but report completion."""
        if progress:
            progress(1, 1)

    def close(self) -> None:
        """Close the client connection (local mode releases its folder lock)."""
        if not self._closed:
            self.client.close()
        self._closed = True

    def upsert(self, points: Sequence[CasePoint], batch_size: int = 256) -> None:
        """Insert or replace whole points, waiting until each batch is applied."""
        self._require()
        for start in range(0, len(points), batch_size):
            batch = [
                qm.PointStruct(id=point_id(p.case_id), vector=dict(p.vectors), payload={**p.payload, "case_id": p.case_id})  # type: ignore[arg-type]
                for p in points[start : start + batch_size]
            ]
            self.client.upsert(self.collection, batch, wait=True)

    def set_payload(self, case_id: str, payload: dict[str, Any]) -> None:
        """Merge top-level ``payload`` keys into one point (a nested dict such as labels is replaced whole)."""
        self._require()
        pid = point_id(case_id)
        if not self.client.retrieve(self.collection, [pid], with_payload=False):
            raise PointNotFoundError(f"case {case_id!r} is not in Qdrant collection {self.collection!r}", hint="ingest the case before relabelling it")
        self.client.set_payload(self.collection, payload, points=[pid], wait=True)

    def set_vector(self, case_id: str, name: str, vector: Sequence[float]) -> None:
        """Set (or replace) one named vector of an existing point; its other vectors and payload stay."""
        values = checked_vector(name, vector)
        self._require()
        pid = point_id(case_id)
        if not self.client.retrieve(self.collection, [pid], with_payload=False):
            raise PointNotFoundError(f"case {case_id!r} is not in Qdrant collection {self.collection!r}", hint="ingest the case's report before its image")
        self.client.update_vectors(self.collection, [qm.PointVectors(id=pid, vector={name: values})], wait=True)

    def delete(self, case_ids: Sequence[str]) -> None:
        """Remove points; unknown ids are ignored."""
        self._require()
        if case_ids:
            self.client.delete(self.collection, qm.PointIdsList(points=[point_id(c) for c in case_ids]), wait=True)

    def _request(self, vector: Sequence[float], using: str, f: SearchFilter | None, limit: int) -> qm.QueryRequest:
        return qm.QueryRequest(query=as_list(vector), using=using, filter=filters.to_client(f), limit=limit, with_payload=True)

    def search(self, vector: Sequence[float], *, using: str = "text", filter: SearchFilter | None = None, limit: int = 10) -> list[SearchHit]:
        """Top-``limit`` by cosine on ``using`` with the filter applied by the engine."""
        self._require()
        result = self.client.query_points(self.collection, query=as_list(vector), using=using, query_filter=filters.to_client(filter), limit=limit, with_payload=True)
        return [hit_from(p) for p in result.points]

    def search_batch(self, vectors: Sequence[Sequence[float]], *, using: str = "text", filters: Sequence[SearchFilter | None] | None = None, limit: int = 10) -> list[list[SearchHit]]:
        """Several searches in one request."""
        self._require()
        fs = list(filters) if filters is not None else [None] * len(vectors)
        if len(fs) != len(vectors):
            raise ValueError(f"search_batch got {len(vectors)} vectors but {len(fs)} filters")
        if not vectors:
            return []
        responses = self.client.query_batch_points(self.collection, [self._request(v, using, f, limit) for v, f in zip(vectors, fs, strict=True)])
        return [[hit_from(p) for p in r.points] for r in responses]

    def similarities(self, vector: Sequence[float], *, using: str, case_ids: Sequence[str]) -> dict[str, float]:
        """Scores of the listed points only (an id filter), no payload."""
        self._require()
        if not case_ids:
            return {}
        ids = {point_id(c): c for c in case_ids}
        only = qm.Filter(must=[qm.HasIdCondition(has_id=sorted(ids))])  # type: ignore[list-item]
        result = self.client.query_points(self.collection, query=as_list(vector), using=using, query_filter=only, limit=len(ids), with_payload=False)
        return {ids[str(p.id)]: float(p.score) for p in result.points if str(p.id) in ids}

    def retrieve(self, case_ids: Sequence[str], with_vectors: bool = False) -> list[CasePoint]:
        """Points in the order asked; missing ids skipped."""
        self._require()
        if not case_ids:
            return []
        records = self.client.retrieve(self.collection, [point_id(c) for c in case_ids], with_payload=True, with_vectors=with_vectors)
        by_id = {str(r.id): r for r in records}
        return [case_point_from(by_id[point_id(c)]) for c in case_ids if point_id(c) in by_id]

    def count(self, filter: SearchFilter | None = None) -> int:
        """Exact number of points matching the filter."""
        self._require()
        return self.client.count(self.collection, count_filter=filters.to_client(filter), exact=True).count

    def scroll(self, filter: SearchFilter | None = None, limit: int = 1000) -> list[CasePoint]:
        """Up to ``limit`` matching points in point-id order, paging through the collection."""
        self._require()
        out: list[CasePoint] = []
        offset: Any = None
        client_filter = filters.to_client(filter)
        while len(out) < limit:
            records, offset = self.client.scroll(self.collection, scroll_filter=client_filter, limit=min(limit - len(out), 1000), offset=offset, with_payload=True)
            out.extend(case_point_from(r) for r in records)
            if offset is None or not records:
                break
        return out

