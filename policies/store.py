"""The active policy pack, swappable at run time without ever running on a broken one.

A governance team edits a pack while the service runs. A reload that fails (syntax, a bad
rule, a missing file) must not leave the service with no pack (everything denied: an outage)
or a half-read one (something allowed by accident): the store validates the new pack fully
and only then swaps it in; otherwise the previous pack stays active and the result says why.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import BaseModel, Field

from policies.engine import PolicyEngine
from policies.pack_source import PackCheckReport, check_pack, inspect_pack
from policies.packs import PolicyPack, PolicyPackError, resolve_pack


class ReloadResult(BaseModel):
    """Outcome of :meth:`PolicyStore.reload`."""

    activated: bool = Field(description="The new pack is now active.")
    active: str = Field(description="'name@version' of the pack active after the call.")
    source: str = Field(description="File of the pack active after the call.")
    report: PackCheckReport = Field(description="Check report of the pack that was offered.")


class PolicyStore:
    """Holds the active pack and its engine; thread-safe reads, validated swaps.

    Args:
        initial: Shipped pack name or file to start with. Unlike a reload, a bad initial pack
            raises: there is no previous pack to keep, and running without one is not an option.

    Raises:
        PolicyPackError: the initial pack is missing or invalid (file, line and rule named).
    """

    def __init__(self, initial: str | Path = "default") -> None:
        path = resolve_pack(initial)
        pack, report = inspect_pack(path)
        if pack is None:
            raise PolicyPackError(f"invalid policy pack {report.issues[0]}", hint="`sagehealth policy check FILE` lists every issue")
        self._lock = threading.Lock()
        self._pack, self._engine, self._source = pack, PolicyEngine(pack), path

    @property
    def pack(self) -> PolicyPack:
        """The active pack."""
        with self._lock:
            return self._pack

    @property
    def engine(self) -> PolicyEngine:
        """An engine for the active pack (replaced, never mutated, on reload: callers holding one stay consistent)."""
        with self._lock:
            return self._engine

    @property
    def source(self) -> Path:
        """File the active pack was read from."""
        with self._lock:
            return self._source

    def reload(self, name_or_path: str | Path | None = None) -> ReloadResult:
        """Validate a pack (default: the active pack's file again) and activate it only if it is valid.

        Never raises for a bad pack: the previous pack stays active and ``report.issues`` name
        file, line and rule.
        """
        target = name_or_path if name_or_path is not None else self.source
        try:
            path = resolve_pack(target)
        except PolicyPackError:
            return self._result(False, check_pack(target))
        pack, report = inspect_pack(path)
        if pack is None:
            return self._result(False, report)
        with self._lock:
            self._pack, self._engine, self._source = pack, PolicyEngine(pack), path
        return self._result(True, report)

    def _result(self, activated: bool, report: PackCheckReport) -> ReloadResult:
        with self._lock:
            return ReloadResult(activated=activated, active=f"{self._pack.name}@{self._pack.version}", source=str(self._source), report=report)
