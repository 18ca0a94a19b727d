"""Semantic tier: case vectors + labels + access tags in Qdrant, behind one interface.

``open_store(settings)`` picks the backend: a Qdrant server when ``SAGE_QDRANT_URL`` is set,
else the embedded Qdrant Edge shard under ``SAGE_HOME/qdrant``, leased between the processes
that share the home (:mod:`lakehouse.semantic.shared`). It opens a new store on every call:
the caller owns it and closes it (``tools.resources.Resources`` holds one per settings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.semantic.base import (
    INDEXED_FIELDS,
    LABEL_FIELDS,
    PAYLOAD_INDEXES,
    VECTORS,
    CasePoint,
    CollectionMissingError,
    InvalidFilterError,
    PointNotFoundError,
    ProgressCallback,
    SearchFilter,
    SearchHit,
    SemanticStore,
    SemanticStoreError,
    StoreLockedError,
    point_id,
)

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = [
    "INDEXED_FIELDS",
    "LABEL_FIELDS",
    "PAYLOAD_INDEXES",
    "VECTORS",
    "CasePoint",
    "CollectionMissingError",
    "InvalidFilterError",
    "PointNotFoundError",
    "ProgressCallback",
    "SearchFilter",
    "SearchHit",
    "SemanticStore",
    "SemanticStoreError",
    "StoreLockedError",
    "open_store",
    "point_id",
]

def open_store(settings: Settings) -> SemanticStore:
    """A new store for these settings (server if ``qdrant_url`` is set, else the shared Edge shard).

    The collection may not exist yet; call ``ensure_collection(VECTORS)`` before writing.
    """
    if settings.qdrant_url:
        from qdrant_client import QdrantClient

        from lakehouse.semantic.client import ClientStore

        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ClientStore(QdrantClient(url=settings.qdrant_url, api_key=api_key), settings.qdrant_collection)
    from lakehouse.semantic.shared import SharedEdgeStore

    return SharedEdgeStore(settings.qdrant_path, settings.qdrant_collection)
