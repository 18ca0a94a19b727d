"""Heavy backends shared by the tools, opened once per process and configuration.

Opening the Qdrant Edge shard, the DuckDB views or the model zoo costs far more than a tool
call, so they are cached here, keyed by the settings that choose them. Nothing is opened at
import time; the first tool call that needs a backend opens it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from core.settings import Settings

T = TypeVar("T")
_cache: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def _cached(kind: str, settings: Settings, build: Callable[[], T]) -> T:
    key = (kind, settings.model_dump_json())
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]  # type: ignore[no-any-return]


def semantic_store(settings: Settings) -> Any:
    """The semantic tier (Qdrant Edge shard or server collection).

    ``open_store`` keeps its own process-wide cache, which ``close_stores`` empties (the CLI
    closes the shard after each command to release its lock), so it is not cached again here.
    """
    from lakehouse.semantic import open_store

    return open_store(settings)


def query_engine(settings: Settings) -> Any:
    """The DuckDB query engine over the raw tier."""
    from lakehouse.query import QueryEngine

    return _cached("query", settings, lambda: QueryEngine(settings))


def model_zoo(settings: Settings) -> Any:
    """The model zoo (chat models load lazily inside it)."""
    from models.zoo import ModelZoo

    return _cached("zoo", settings, lambda: ModelZoo(settings))


def embedder(settings: Settings) -> Any:
    """The text embedder (itself shared per folder and device)."""
    from models.embedder import TextEmbedder

    return TextEmbedder.from_settings(settings)


def close_all() -> None:
    """Close cached backends that hold files (tests, and before another process opens them)."""
    with _lock:
        for value in _cache.values():
            close = getattr(value, "close", None)
            if callable(close):
                close()
        _cache.clear()


def policy_engine(settings: Settings) -> Any:
    """The policy engine of the active pack (``settings.policy_pack``)."""
    from policies.engine import PolicyEngine
    from policies.packs import load_pack

    return _cached("policy", settings, lambda: PolicyEngine(load_pack(settings.policy_pack)))


def audit_log(settings: Settings) -> Any:
    """The hash-chained audit log."""
    from policies.audit import AuditLog

    return _cached("audit", settings, lambda: AuditLog(settings.audit_path))


def phi_redactor() -> Any:
    """The PHI redactor (Presidio with clinical recognizers), shared per process."""
    from policies.phi import get_redactor

    return get_redactor()


def invalidate(kind: str, settings: Settings) -> None:
    """Drop one cached backend (e.g. the query engine's snapshot after a label write)."""
    with _lock:
        value = _cache.pop((kind, settings.model_dump_json()), None)
    close = getattr(value, "close", None)
    if callable(close):
        close()
