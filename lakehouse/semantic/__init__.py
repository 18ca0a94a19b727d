"""Semantic tier: case vectors + labels + access tags in Qdrant, behind one interface.

``open_store(settings)`` picks the backend: a Qdrant server when ``SAGE_QDRANT_URL`` is set,
else the embedded Qdrant Edge shard under ``SAGE_HOME/qdrant``. An Edge shard can be opened
once per process (it holds a file lock), so stores are cached per location and shared;
``close_stores()`` releases them (tests, process shutdown).
"""

from __future__ import annotations

import threading
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
    "close_stores",
    "open_store",
    "point_id",
]

_stores: dict[tuple[str, str], SemanticStore] = {}
_lock = threading.Lock()


def open_store(settings: Settings) -> SemanticStore:
    """The process-wide store for these settings (server if ``qdrant_url`` is set, else Edge).

    The collection may not exist yet; call ``ensure_collection(VECTORS)`` before writing.
    """
    location = settings.qdrant_url or str(settings.qdrant_path.resolve())
    key = (location, settings.qdrant_collection)
    with _lock:
        store = _stores.get(key)
        if store is not None and getattr(store, "is_open", True):
            return store
        if settings.qdrant_url:
            from qdrant_client import QdrantClient

            from lakehouse.semantic.client import ClientStore

            api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
            store = ClientStore(QdrantClient(url=settings.qdrant_url, api_key=api_key), settings.qdrant_collection)
        else:
            from lakehouse.semantic.edge import EdgeStore

            store = EdgeStore(settings.qdrant_path, settings.qdrant_collection)
        _stores[key] = store
        return store


def close_stores() -> None:
    """Close every store opened by :func:`open_store` (flushes Edge shards, releases locks)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
