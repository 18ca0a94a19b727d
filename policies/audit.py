"""Append-only, hash-chained audit log (JSON lines): any edit or deletion is detectable.

Each entry stores ``prev_hash`` (the previous entry's hash; 64 zeros for the first) and
``hash = sha256(prev_hash + canonical JSON of the entry without its hash)``. Changing a line
breaks its own hash; deleting or reordering lines breaks the sequence and chain of the next.
(Cutting entries off the end is only detectable against a copy of the last hash kept
elsewhere: :meth:`AuditLog.head` gives it.)

Appends are serialized within a process (a lock) and across processes (``fcntl.flock`` on
the file), so several workers can share one log. Events hold ids, decisions and
fingerprints, never raw clinical text: long strings are refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

GENESIS = "0" * 64
MAX_VALUE_CHARS = 256  # longer strings are texts, not ids: store policies.engine.fingerprint(text)


class AuditEvent(BaseModel):
    """What happened: who did what to which resource, with what decision, in which run."""

    actor: str
    action: str
    resource: str
    decision: str = Field(description="Policy effect or outcome: allow, deny, redact, review, ok, error.")
    run_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="Ids, counts, rule names, fingerprints; never raw text.")

    @field_validator("actor", "action", "resource", "decision")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"audit fields hold ids, not texts ({len(value)} chars > {MAX_VALUE_CHARS}); store fingerprint(text)")
        return value

    @field_validator("details")
    @classmethod
    def _no_texts(cls, value: dict[str, Any]) -> dict[str, Any]:
        def walk(v: Any, path: str) -> None:
            if isinstance(v, str) and len(v) > MAX_VALUE_CHARS:
                raise ValueError(f"details.{path} is {len(v)} chars: audit events hold ids and fingerprints, not texts")
            if isinstance(v, dict):
                for k, item in v.items():
                    walk(item, f"{path}.{k}" if path else str(k))
            elif isinstance(v, list | tuple):
                for i, item in enumerate(v):
                    walk(item, f"{path}[{i}]")

        walk(value, "")
        return value


class AuditEntry(AuditEvent):
    """An event as stored: sequence number, time and its place in the hash chain."""

    seq: int
    time: str
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    """Result of checking a log's chain."""

    ok: bool
    entries: int = Field(description="Entries read (up to the first bad one).")
    first_bad_seq: int | None = Field(None, description="Sequence number where the chain first breaks.")
    reason: str | None = None


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """The chain hash of an entry body (all fields except ``hash``)."""
    return hashlib.sha256((prev_hash + _canonical(body)).encode("utf-8")).hexdigest()


class AuditLog:
    """One JSONL audit file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _last(self, fh: Any) -> tuple[int, str]:
        # Read backwards from the end for the last complete line: appends stay O(1) in log size.
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        if end == 0:
            return -1, GENESIS
        chunk, pos = b"", end
        while pos > 0:
            step = min(4096, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step) + chunk
            lines = chunk.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                last = json.loads(lines[-1])
                return int(last["seq"]), str(last["hash"])
        return -1, GENESIS

    def append(self, event: AuditEvent) -> AuditEntry:
        """Add an event at the end of the chain and return the stored entry."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                seq, prev = self._last(fh)
                body = {**event.model_dump(mode="json"), "seq": seq + 1, "time": datetime.now(UTC).isoformat(), "prev_hash": prev}
                entry = AuditEntry(**body, hash=entry_hash(prev, body))
                fh.seek(0, os.SEEK_END)
                fh.write((_canonical(entry.model_dump(mode="json")) + "\n").encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return entry

    def entries(self) -> list[AuditEntry]:
        """All entries, in order (no verification)."""
        if not self.path.exists():
            return []
        return [AuditEntry.model_validate_json(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def head(self) -> str:
        """Hash of the last entry (anchor it elsewhere to detect truncation)."""
        if not self.path.exists():
            return GENESIS
        with open(self.path, "rb") as fh:
            return self._last(fh)[1]

    def verify(self) -> AuditVerification:
        """Walk the chain; report the first entry whose sequence, link or hash is wrong."""
        if not self.path.exists():
            return AuditVerification(ok=True, entries=0)
        prev, expected = GENESIS, 0
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                try:
                    data = json.loads(line)
                    stored = data.pop("hash")
                    seq = int(data["seq"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    return AuditVerification(ok=False, entries=expected, first_bad_seq=expected, reason=f"line {lineno} is not a valid audit entry")
                if seq != expected:
                    return AuditVerification(ok=False, entries=expected, first_bad_seq=expected, reason=f"line {lineno}: expected seq {expected}, found {seq} (entry missing or reordered)")
                if data.get("prev_hash") != prev:
                    return AuditVerification(ok=False, entries=expected, first_bad_seq=seq, reason=f"seq {seq}: prev_hash does not match the hash of seq {seq - 1}")
                if entry_hash(prev, data) != stored:
                    return AuditVerification(ok=False, entries=expected, first_bad_seq=seq, reason=f"seq {seq}: content does not match its hash (entry altered)")
                prev, expected = stored, expected + 1
        return AuditVerification(ok=True, entries=expected)
