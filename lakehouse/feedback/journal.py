"""Write-ahead journal and apply lock: all or nothing per feedback event, across crashes and processes.

An event touches three stores (raw-tier Delta tables, the Qdrant payloads, the audit log) that
share no transaction. So the full plan of an event, every row and payload it will write, is
first written to ``SAGE_HOME/feedback/journal/<event>.json`` (atomically: temp file, fsync,
rename). Only then is anything applied; afterwards the file is removed. A process killed in
between leaves the journal behind, and the next apply (or :func:`lakehouse.feedback.recover`)
replays it before doing anything else. Every step of a replay is idempotent (the Delta writers
skip rows already there, payload writes set values, audit entries are looked up by event id),
so nothing is applied twice. Before the journal exists nothing has been written: the event
simply did not happen.

:func:`apply_lock` serialises planning and applying across threads and processes
(``fcntl.flock``): two corrections to one case at the same moment are planned one after the
other, so the second sees the first's version and both are kept.

Test hook: ``SAGE_FEEDBACK_CRASH_AT=<point>`` kills the process (``os._exit(137)``) when the
apply reaches that point; ``SAGE_FEEDBACK_PAUSE_AT=<point>:<seconds>`` sleeps there (touching the
file ``SAGE_FEEDBACK_PAUSE_MARKER`` names first, so a test knows when to kill the process).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.settings import Settings

_thread_lock = threading.RLock()


def feedback_dir(settings: Settings) -> Path:
    """``SAGE_HOME/feedback``: the journal and the lock file."""
    return settings.home / "feedback"


def journal_dir(settings: Settings) -> Path:
    """Folder of pending (not fully applied) event plans."""
    return feedback_dir(settings) / "journal"


@contextmanager
def apply_lock(settings: Settings) -> Iterator[None]:
    """Exclusive lock over planning + applying feedback for one ``SAGE_HOME`` (threads and processes)."""
    path = feedback_dir(settings) / "apply.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write(settings: Settings, plan_id: str, plan: dict[str, Any]) -> Path:
    """Durably record a plan before any of it is applied."""
    folder = journal_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final, tmp = folder / f"{plan_id}.json", folder / f".{plan_id}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(plan, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def pending(settings: Settings) -> list[dict[str, Any]]:
    """Plans written but not marked done, oldest first."""
    folder = journal_dir(settings)
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [json.loads(p.read_text(encoding="utf-8")) for p in files]


def done(settings: Settings, plan_id: str) -> None:
    """Mark a plan fully applied (its file is removed)."""
    (journal_dir(settings) / f"{plan_id}.json").unlink(missing_ok=True)


def checkpoint(point: str) -> None:
    """Test hook: crash or pause here when the environment asks for it (no effect otherwise)."""
    if os.environ.get("SAGE_FEEDBACK_CRASH_AT") == point:
        os._exit(137)
    pause = os.environ.get("SAGE_FEEDBACK_PAUSE_AT", "")
    if pause.startswith(f"{point}:"):
        marker = os.environ.get("SAGE_FEEDBACK_PAUSE_MARKER")
        if marker:
            Path(marker).touch()
        time.sleep(float(pause.split(":", 1)[1]))
