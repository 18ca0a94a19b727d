"""Append-only audit log (JSON lines), chained with a keyed MAC, with a head record and anchors.

Every entry carries a sequence number and ``HMAC-SHA256(key, entry incl. previous MAC)``
(:mod:`policies.audit_chain`); the key lives outside ``SAGE_HOME`` (:mod:`policies.audit_key`).
Beside the log, ``<log>.head`` holds the signed head (sequence and MAC of the last entry),
rewritten on every append, so cutting entries off the end fails verification even without an
exported anchor; :meth:`AuditLog.anchor` exports the same record for a site to keep
elsewhere, which also catches a rollback of log *and* head file together. What the chain
proves and what it does not: ``docs/governance.md`` ("Audit log").

Appends are serialized within a process (a lock) and across processes (``fcntl.flock`` on
the file), so several workers can share one log. Events hold ids, decisions and
fingerprints, never raw clinical text: long strings are refused and text fields are
fingerprinted (:func:`policies.redact.redact_details`).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import SageError
from policies.audit_chain import (
    FORMAT_VERSION,
    GENESIS,
    AuditAnchor,
    AuditEntry,
    AuditEvent,
    AuditProblem,
    AuditVerification,
    anchor_sig,
    canonical,
    entry_mac,
)
from policies.audit_key import ensure_outside, key_id, load_or_create_key

__all__ = ["GENESIS", "AuditAnchor", "AuditEntry", "AuditEvent", "AuditFormatError", "AuditLog", "AuditProblem", "AuditVerification", "read_anchor"]

MIGRATE_HINT = "run `sagehealth audit migrate` (policies.audit_legacy.migrate_legacy_log): it verifies the old chain, archives it and starts a keyed log that records the old head"


class AuditFormatError(SageError):
    """The log cannot be appended to: an unkeyed (v1) log, or a corrupt last line."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _last_line(fh: Any) -> bytes | None:
    # Read backwards from the end for the last complete line: appends stay O(1) in log size.
    fh.seek(0, os.SEEK_END)
    pos = fh.tell()
    chunk = b""
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        fh.seek(pos)
        chunk = fh.read(step) + chunk
        lines = [line for line in chunk.rstrip(b"\n").split(b"\n")]
        if len(lines) > 1 or pos == 0:
            return lines[-1] if lines[-1].strip() else None
    return None


def read_anchor(path: Path | str) -> AuditAnchor:
    """An anchor exported with ``AuditLog.anchor().model_dump_json()`` (``audit verify --anchor FILE``).

    Raises:
        AuditFormatError: the file is missing or is not an anchor.
    """
    try:
        return AuditAnchor.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditFormatError(f"{path} is not a readable audit anchor: {type(exc).__name__}", hint="export one with `sagehealth audit anchor > FILE`") from exc


class AuditLog:
    """One JSONL audit file and the key that chains it.

    Args:
        path: The log file (``settings.audit_path``).
        key: The HMAC key itself (tests, embedders).
        key_file: Where the key lives. With neither ``key`` nor ``key_file`` the key comes from
            ``Settings().audit_key_file`` (``SAGE_AUDIT_KEY_FILE``) when first needed; prefer
            :meth:`from_settings`, which also refuses a key inside ``SAGE_HOME``.
    """

    def __init__(self, path: Path | str, key: bytes | None = None, *, key_file: Path | str | None = None) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self._key = key
        self._key_file = Path(key_file).expanduser() if key_file is not None else None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> AuditLog:
        """The installation's log (``settings.audit_path``) with its key (``settings.audit_key_file``)."""
        ensure_outside(settings.audit_key_file, settings.home)
        return cls(settings.audit_path, key_file=settings.audit_key_file)

    def key(self, *, create: bool = True) -> bytes:
        """The HMAC key (created on first append when the key file is absent)."""
        if self._key is None:
            if self._key_file is None:
                from core.settings import Settings

                self._key_file = Settings().audit_key_file  # type: ignore[call-arg]  # fields come from SAGE_* env
            if self._key_file.parent.resolve() == self.path.parent.resolve():
                ensure_outside(self._key_file, self.path.parent)
            self._key = load_or_create_key(self._key_file, create=create)
        return self._key

    def _tail(self, fh: Any) -> tuple[int, str]:
        line = _last_line(fh)
        if line is None:
            return -1, GENESIS
        try:
            last = json.loads(line)
            if "mac" not in last and "hash" in last:
                raise AuditFormatError(f"{self.path} is an unkeyed (v1, SHA-256) audit log; new entries are keyed", hint=MIGRATE_HINT)
            return int(last["seq"]), str(last["mac"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise AuditFormatError(f"{self.path}: the last line is not a valid audit entry; nothing can be chained to it", hint="run `sagehealth audit verify` and keep the file as evidence") from exc

    def _sign_anchor(self, key: bytes, seq: int, mac: str, entry_time: str | None) -> AuditAnchor:
        anchor = AuditAnchor(log=self.path.name, seq=seq, mac=mac, entry_time=entry_time, time=_now(), key_id=key_id(key))
        return anchor.model_copy(update={"sig": anchor_sig(key, anchor)})

    def _write_head(self, anchor: AuditAnchor) -> None:
        tmp = self.head_path.with_name(f"{self.head_path.name}.{os.getpid()}.tmp")
        tmp.write_text(anchor.model_dump_json() + "\n", encoding="utf-8")
        os.replace(tmp, self.head_path)

    def append(self, event: AuditEvent) -> AuditEntry:
        """Add an event at the end of the chain (next sequence number, MAC'd) and return the stored entry.

        Raises:
            AuditFormatError: the log is an unkeyed v1 log or ends in a corrupt line.
            policies.audit_key.AuditKeyError: the key cannot be read or created.
        """
        key = self.key()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                seq, prev = self._tail(fh)
                body = {**event.model_dump(mode="json"), "v": FORMAT_VERSION, "seq": seq + 1, "time": _now(), "key_id": key_id(key), "prev_mac": prev}
                entry = AuditEntry.model_validate({**body, "mac": entry_mac(key, body)})
                fh.seek(0, os.SEEK_END)
                fh.write((canonical(entry.model_dump(mode="json")) + "\n").encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                # After the entry is durable: a crash in between leaves the head one entry behind,
                # which verification accepts (valid entries after a head are normal appends).
                self._write_head(self._sign_anchor(key, entry.seq, entry.mac, entry.time))
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return entry

    def entries(self) -> list[AuditEntry]:
        """All entries, in order (no verification).

        Raises:
            AuditFormatError: the log is an unkeyed v1 log (read it with ``policies.audit_legacy``).
        """
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if rows and "mac" not in rows[0] and "hash" in rows[0]:
            raise AuditFormatError(f"{self.path} is an unkeyed (v1) audit log", hint=MIGRATE_HINT)
        return [AuditEntry.model_validate(row) for row in rows]

    def head(self) -> str:
        """MAC of the last entry (GENESIS for an empty log)."""
        if not self.path.exists():
            return GENESIS
        with open(self.path, "rb") as fh:
            return self._tail(fh)[1]

    def anchor(self) -> AuditAnchor:
        """The signed head (sequence, MAC, time) to export and keep outside this host.

        Store the JSON (``anchor.model_dump_json()``) somewhere the host cannot rewrite (another
        server, a ticket, WORM storage); ``verify(anchor)`` later proves nothing up to it was
        removed or rewritten.
        """
        key = self.key(create=False)
        if not self.path.exists():
            return self._sign_anchor(key, -1, GENESIS, None)
        with open(self.path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            try:
                line = _last_line(fh)
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        if line is None:
            return self._sign_anchor(key, -1, GENESIS, None)
        seq, mac = self._tail_of(line)
        return self._sign_anchor(key, seq, mac, json.loads(line).get("time"))

    def _tail_of(self, line: bytes) -> tuple[int, str]:
        row = json.loads(line)
        if "mac" not in row:
            raise AuditFormatError(f"{self.path} is an unkeyed (v1) audit log", hint=MIGRATE_HINT)
        return int(row["seq"]), str(row["mac"])

    def verify(self, anchor: AuditAnchor | None = None) -> AuditVerification:
        """Walk the chain and name the first bad entry (line, sequence, reason).

        Detects altered, forged, removed, reordered and inserted entries (MAC, sequence and link
        per entry), and a cut-off tail against the head record beside the log and, when given,
        an exported ``anchor``. An unkeyed v1 log is reported as such, naming the migration.
        """
        from policies.audit_verify import verify_log

        try:
            key: bytes | None = self.key(create=False)
            key_error = None
        except SageError as exc:
            key, key_error = None, str(exc)
        return verify_log(self.path, self.head_path, key, anchor, key_error=key_error)
