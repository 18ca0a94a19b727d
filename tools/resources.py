"""The heavy backends of one installation, opened lazily and held by one object per settings.

Opening the Qdrant shard, the DuckDB views, a model or the de-identifier costs far more than a
tool call, so each is opened once and shared. They all live on one :class:`Resources` object,
which reaches graph nodes (through the run context) and services (as their first argument):
no module keeps a cache of its own, so a process never loads the chat model twice and a test
can build an isolated installation by making a new ``Resources``.

The model zoo is the only model loader: the embedder and the image encoder come from it too.
Nothing is opened at construction; the first use of a property opens it.

Usage::

    resources = Resources.for_settings(settings)   # the process's object for these settings
    resources.store.search(...)
    resources.close()                              # release files (the shard lease) when done
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from core.settings import Settings

if TYPE_CHECKING:
    from langgraph.checkpoint.memory import InMemorySaver

    from lakehouse.query import QueryEngine
    from lakehouse.semantic import SemanticStore
    from models.zoo import ModelZoo
    from policies.audit import AuditLog
    from policies.deid import Redactor
    from policies.engine import PolicyEngine

T = TypeVar("T")
log = logging.getLogger(__name__)


class Resources:
    """Backends of one installation (one ``Settings``), each opened on first use.

    Args:
        settings: The installation; every backend is chosen by it.
    """

    _registry: ClassVar[dict[str, Resources]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()  # guards the dicts below, never held while something is built
        self._open: dict[str, Any] = {}
        self._building: dict[str, threading.Lock] = {}  # one per name: a name is built once at a time
        self._generation: dict[str, int] = {}  # bumped by drop(): a build that raced a drop is not kept

    @classmethod
    def for_settings(cls, settings: Settings) -> Resources:
        """The process's shared object for these settings (entry points and ``langgraph dev`` use it)."""
        key = settings.model_dump_json()
        with cls._registry_lock:
            found = cls._registry.get(key)
            if found is None:
                found = cls._registry[key] = cls(settings)
            return found

    def variant(self, settings: Settings) -> Resources:
        """These opened backends under other settings (e.g. another checkpointer or exporter).

        One process then holds one semantic store, one query engine and one set of models,
        which is what a comparison of configurations needs (benchmarks/orchestration.py).
        """
        other = Resources.for_settings(settings)
        with self._lock:
            shared = {k: v for k, v in self._open.items() if k != "memory_saver"}
        with other._lock:
            other._open.update(shared)
        return other

    @classmethod
    def close_all(cls) -> None:
        """Close every registered object (process exit, tests that switch homes)."""
        with cls._registry_lock:
            found, cls._registry = list(cls._registry.values()), {}
        for resources in found:
            resources.close()

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """A value computed once from these backends (e.g. the router's task vectors).

        A slow build (the impression planner refits in 6-26 s after a label correction; the
        de-identifier loads in ~4 s) holds up only callers of the same name, who wait for that one
        build instead of starting their own. Every other backend stays available meanwhile: a
        server's searches do not stall behind one report's refit. A build that a :meth:`drop`
        overtook (the labels changed while it read them) is handed to its caller but not kept.
        """
        with self._lock:
            if name in self._open:
                return self._open[name]  # type: ignore[no-any-return]
            gate = self._building.setdefault(name, threading.Lock())
        with gate:
            with self._lock:
                if name in self._open:  # built by the caller we waited for
                    return self._open[name]  # type: ignore[no-any-return]
                generation = self._generation.get(name, 0)
            value = build()
            with self._lock:
                if self._generation.get(name, 0) == generation:
                    self._open[name] = value
            return value

    def drop(self, name: str) -> None:
        """Forget one backend and what was derived from it (``name:...``), closing them.

        E.g. ``drop("query")`` after a write: the query engine's snapshot and every caller's
        catalog built from it.
        """
        with self._lock:
            names = [n for n in self._open if n == name or n.startswith(name + ":")]
            values = [self._open.pop(n) for n in names]
            for n in {*names, *(b for b in self._building if b == name or b.startswith(name + ":"))}:
                self._generation[n] = self._generation.get(n, 0) + 1
        for value in values:
            close = getattr(value, "close", None)
            if callable(close):
                close()

    def close(self) -> None:
        """Close every opened backend that holds files or locks (idempotent)."""
        with self._lock:
            opened, self._open = list(self._open.values()), {}
            for n in self._building:  # a build still running is not kept either
                self._generation[n] = self._generation.get(n, 0) + 1
        for value in opened:
            close = getattr(value, "close", None)
            if not callable(close):
                continue
            try:
                close()
            except Exception:  # one backend that fails to close (its folder gone) must not keep the others open
                log.warning("closing %s failed", type(value).__name__, exc_info=True)

    # -- backends -----------------------------------------------------------------------------
    @property
    def zoo(self) -> ModelZoo:
        """The model zoo: the one loader of chat models, the embedder and the image encoder."""
        from models.zoo import ModelZoo

        return self.derived("zoo", lambda: ModelZoo(self.settings))

    @property
    def embedder(self) -> Any:
        """The text embedder (``settings.embed_model``), from the zoo."""
        return self.zoo.embedder()

    @property
    def image_encoder(self) -> Any:
        """The image encoder (``settings.image_model``), from the zoo, checked to give 512-d vectors."""
        from models.image import checked_encoder

        return self.derived("image_encoder", lambda: checked_encoder(self.zoo.image_encoder(), self.settings.image_model))

    @property
    def store(self) -> SemanticStore:
        """The semantic tier: a Qdrant server collection, or the Edge shard leased between processes."""
        from lakehouse.semantic import open_store

        return self.derived("store", lambda: open_store(self.settings))

    @property
    def query(self) -> QueryEngine:
        """The DuckDB query engine over the raw tier (a snapshot: :meth:`drop` ``"query"`` after writes)."""
        from lakehouse.query import QueryEngine

        return self.derived("query", lambda: QueryEngine(self.settings))

    @property
    def policy(self) -> PolicyEngine:
        """The policy engine of the active pack (``settings.policy_pack``)."""
        from policies.engine import PolicyEngine
        from policies.packs import load_pack

        return self.derived("policy", lambda: PolicyEngine(load_pack(self.settings.policy_pack)))

    @property
    def audit(self) -> AuditLog:
        """The hash-chained audit log."""
        from policies.audit import AuditLog

        return self.derived("audit", lambda: AuditLog.from_settings(self.settings))

    @property
    def redactor(self) -> Redactor:
        """The PHI de-identifier, with the raw tier's patient names and places as a deny-list.

        Presidio with the project's recognizers; the lakehouse's clinical vocabulary is its
        allow-list. Built once (seconds: spaCy and the drug dictionary); :meth:`drop` ``"redactor"`` after an
        ingest so new patients join the deny-list.
        """
        from lakehouse.deid_names import clinical_vocabulary, known_identities
        from policies.deid import Redactor

        def build() -> Redactor:
            known = known_identities(self.settings)
            return Redactor(known_names=known.names, known_places=known.places, allow_terms=clinical_vocabulary())

        return self.derived("redactor", build)

    @property
    def memory_saver(self) -> InMemorySaver:
        """The in-memory checkpointer (``SAGE_CHECKPOINTER=memory``): one per installation and process."""
        from langgraph.checkpoint.memory import InMemorySaver

        return self.derived("memory_saver", InMemorySaver)

    def tracing(self) -> None:
        """Install the tracer provider for these settings (idempotent; see ``core.telemetry``)."""
        from core.telemetry import configure_tracing

        configure_tracing(self.settings)


atexit.register(Resources.close_all)  # flush and hand back the shard lease on a clean exit
