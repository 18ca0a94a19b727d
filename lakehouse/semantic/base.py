"""The semantic-store interface: one API, two Qdrant backends (embedded Edge, qdrant-client).

Callers (ingestion, retrieval tools, feedback) depend on :class:`SemanticStore` only. Both
implementations pass the same parametrized test suite (``tests/lakehouse/test_semantic.py``),
so switching from the embedded shard to a server is a setting (``SAGE_QDRANT_URL``).

Point ids: Qdrant wants an integer or UUID, our cases have string ids (``CXR10``); backends
map them with :func:`point_id` (UUIDv5) and keep the case id in the payload as ``case_id``.
Access tags (``site``, ``consent``, ``sensitivity``) are ordinary payload fields that callers
always pass as filters, so unauthorised points are never scored.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from core.errors import SageError
from lakehouse.findings import FINDING_KEYS, FindingState

_NAMESPACE = uuid.UUID("6f1c3a52-8a0e-4b0e-9a59-3d1f6c2b7e10")

# Named vectors of a case point -> dimension. "text": the findings text; "abnormal": only the
# sentences that state a present finding (so retrieval is not dominated by normal boilerplate);
# "image": the image encoder's embedding (points without an image simply lack it).
VECTORS: dict[str, int] = {"text": 384, "abnormal": 384, "image": 512}

# Payload fields with an index (keyword unless noted); filters on other fields are refused.
INDEXED_FIELDS: dict[str, str] = {
    "case_id": "keyword",
    "patient_id": "keyword",
    "split": "keyword",
    "site": "keyword",
    "consent": "keyword",
    "sensitivity": "integer",
    "positive_findings": "keyword",
    "label_version": "integer",
}


# Label states live nested in the payload ("labels": {"edema": "present"}); each finding key gets
# its own keyword index so SearchFilter.findings is answered from an index, not a payload scan.
LABEL_FIELDS: dict[str, str] = {f"labels.{key}": "keyword" for key in FINDING_KEYS}

# Every payload index a backend creates in ensure_collection.
PAYLOAD_INDEXES: dict[str, str] = {**INDEXED_FIELDS, **LABEL_FIELDS}


def as_list(vector: Sequence[float]) -> list[float]:
    """A query vector as the plain list both engines take (NumPy arrays converted in C, lists kept)."""
    if isinstance(vector, list):
        return vector
    tolist = getattr(vector, "tolist", None)
    return tolist() if tolist is not None else list(vector)


class SemanticStoreError(SageError):
    """Base class of semantic-tier failures."""


def checked_vector(name: str, vector: Sequence[float]) -> list[float]:
    """``vector`` as a list, after checking ``name`` is a named vector of :data:`VECTORS` and the length fits.

    Both backends call this before writing one named vector, so a wrong name or dimension fails
    the same way on each (the engines' own messages differ).

    Raises:
        SemanticStoreError: unknown vector name or wrong dimension.
    """
    values = as_list(vector)
    if name not in VECTORS:
        raise SemanticStoreError(f"unknown named vector {name!r}", hint=f"use one of: {', '.join(VECTORS)}")
    if len(values) != VECTORS[name]:
        raise SemanticStoreError(f"vector {name!r} has {len(values)} values, expected {VECTORS[name]}", hint="check the encoder's output dimension")
    return values


class StoreLockedError(SemanticStoreError):
    """The embedded shard is held by another process (Qdrant Edge allows one writer)."""


class CollectionMissingError(SemanticStoreError):
    """The collection or shard has not been created yet (nothing ingested)."""


class PointNotFoundError(SemanticStoreError):
    """An operation named a case id that has no point in the collection."""


class InvalidFilterError(SemanticStoreError):
    """A SearchFilter names an unknown finding or an impossible condition."""


@functools.lru_cache(maxsize=65536)
def point_id(case_id: str) -> str:
    """Deterministic UUID for a case id, identical across backends and runs.

    Cached: a search maps ~50 candidate ids through here (its rerank asks for their scores by
    id), and ``uuid5`` costs ~6 us each, which adds up under concurrent searches.
    """
    return str(uuid.uuid5(_NAMESPACE, case_id))


class CasePoint(BaseModel):
    """One case in the semantic tier: named vectors plus payload (labels, tags, provenance)."""

    case_id: str
    vectors: dict[str, list[float]] = Field(description="Named vectors, e.g. {'text': [...384 floats]}.")
    payload: dict[str, Any] = Field(default_factory=dict)


class SearchFilter(BaseModel):
    """Payload conditions, all ANDed. ``None`` / empty means no condition on that field.

    Exception, so access control fails closed: an *empty* allow-list (``sites=[]`` or
    ``consents=[]``) allows nothing and matches no point; only ``None`` means "any".
    """

    findings: dict[str, FindingState] = Field(default_factory=dict, description="Required label state per finding key (payload labels.<key>).")
    any_positive: list[str] = Field(default_factory=list, description="At least one of these findings must be present.")
    sites: list[str] | None = Field(None, description="Allowed site tags.")
    consents: list[str] | None = Field(None, description="Allowed consent tags.")
    max_sensitivity: int | None = Field(None, description="Highest sensitivity level the caller may see.")
    split: str | None = Field(None, description="Only this split ('train' or 'test').")
    exclude_ids: list[str] = Field(default_factory=list, description="Case ids never returned (e.g. the query case itself).")
    patient_id: str | None = None


class SearchHit(BaseModel):
    """A scored case with its payload."""

    case_id: str
    score: float
    payload: dict[str, Any] = Field(default_factory=dict)


ProgressCallback = Callable[[int, int], None]


@runtime_checkable
class SemanticStore(Protocol):
    """Operations every backend provides; semantics identical across backends."""

    def ensure_collection(self, vectors: dict[str, int]) -> None:
        """Create the collection (named vectors -> dimension, cosine) and payload indexes if missing."""

    def upsert(self, points: Sequence[CasePoint], batch_size: int = 256) -> None:
        """Insert or replace points, in batches."""

    def search(self, vector: Sequence[float], *, using: str = "text", filter: SearchFilter | None = None, limit: int = 10) -> list[SearchHit]:
        """Top-``limit`` cases by cosine similarity on the named vector, filters applied inside the engine."""

    def search_batch(self, vectors: Sequence[Sequence[float]], *, using: str = "text", filters: Sequence[SearchFilter | None] | None = None, limit: int = 10) -> list[list[SearchHit]]:
        """Several searches in one call (batch report generation)."""

    def retrieve(self, case_ids: Sequence[str], with_vectors: bool = False) -> list[CasePoint]:
        """Points by case id (missing ids are skipped), in the order asked."""

    def similarities(self, vector: Sequence[float], *, using: str, case_ids: Sequence[str]) -> dict[str, float]:
        """Cosine of ``vector`` with the named vector of each listed case, computed by the engine.

        Cases that are missing or lack that vector are absent from the result. Cheaper than
        :meth:`retrieve` with vectors, which copies every float into Python (the rerank's cost).
        """

    def set_payload(self, case_id: str, payload: dict[str, Any]) -> None:
        """Merge ``payload`` into one point's payload (relabelling)."""

    def set_vector(self, case_id: str, name: str, vector: Sequence[float]) -> None:
        """Set one named vector of an existing point, keeping its other vectors and payload (image ingestion)."""

    def delete(self, case_ids: Sequence[str]) -> None:
        """Remove points (used to roll back a failed ingest batch)."""

    def count(self, filter: SearchFilter | None = None) -> int:
        """Number of points matching the filter."""

    def scroll(self, filter: SearchFilter | None = None, limit: int = 1000) -> list[CasePoint]:
        """Points matching the filter, without scoring."""

    def optimize(self, progress: ProgressCallback | None = None) -> None:
        """Build indexes after a bulk load (HNSW on Edge; a no-op on a server)."""

    def close(self) -> None:
        """Release files and locks."""


def hit_from(point: Any) -> SearchHit:
    """A ``SearchHit`` from either engine's scored point (both expose ``id``, ``score``, ``payload``)."""
    payload = dict(point.payload or {})
    # model_construct: engine output is already typed; validation here would be pure overhead per hit.
    return SearchHit.model_construct(case_id=str(payload.get("case_id", point.id)), score=float(point.score), payload=payload)


def case_point_from(record: Any) -> CasePoint:
    """A ``CasePoint`` from either engine's record (``id``, ``payload``, named ``vector`` dict)."""
    payload = dict(record.payload or {})
    vectors = record.vector if isinstance(record.vector, dict) else {}
    # model_construct: validating 3 x 384 floats per point cost ~50 us each, most of a search's rerank.
    return CasePoint.model_construct(case_id=str(payload.get("case_id", record.id)), vectors={k: list(v) for k, v in vectors.items()}, payload=payload)
