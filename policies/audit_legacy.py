"""Unkeyed (v1) audit logs: verify them as before, and migrate to a keyed log.

A v1 log is a plain SHA-256 chain: it detects edits by someone who does not recompute hashes,
nothing more (anyone can re-chain it). Migration keeps it readable: it is verified, moved
aside unchanged, and the new keyed log starts with an ``audit:migrate`` entry holding the old
file's name, entry count, head hash and verification result, so the old chain's head is
itself under the new MAC from then on.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from core.errors import SageError
from policies.audit import AuditEvent, AuditLog
from policies.audit_chain import GENESIS, AuditVerification, canonical


class LegacyVerification(AuditVerification):
    """A v1 log's verification, plus its head hash."""

    head_hash: str = GENESIS


class MigrationReport(BaseModel):
    """What :func:`migrate_legacy_log` did."""

    archived_to: str = Field(description="Where the v1 log now lives (unchanged).")
    legacy: LegacyVerification
    first_entry_seq: int = Field(description="Sequence number of the audit:migrate entry in the new log.")


def _legacy_hash(prev_hash: str, body: dict[str, object]) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode("utf-8")).hexdigest()


def is_legacy(path: Path) -> bool:
    """True when the first line of ``path`` is a v1 (hash, no mac) entry."""
    if not path.exists():
        return False
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and "hash" in row and "mac" not in row


def verify_legacy(path: Path | str) -> LegacyVerification:
    """Walk a v1 chain (sequence, link, SHA-256): the old guarantees only."""
    path, prev, expected = Path(path), GENESIS, 0
    if not path.exists():
        return LegacyVerification(ok=True, entries=0)
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                data = json.loads(line)
                stored = data.pop("hash")
                seq = int(data["seq"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                return LegacyVerification(ok=False, entries=expected, first_bad_seq=expected, reason=f"line {lineno} is not a valid v1 audit entry", head_hash=prev)
            if seq != expected:
                return LegacyVerification(ok=False, entries=expected, first_bad_seq=expected, reason=f"line {lineno}: expected seq {expected}, found {seq}", head_hash=prev)
            if data.get("prev_hash") != prev or _legacy_hash(prev, data) != stored:
                return LegacyVerification(ok=False, entries=expected, first_bad_seq=seq, reason=f"line {lineno}: seq {seq} does not match its hash or link", head_hash=prev)
            prev, expected = stored, expected + 1
    return LegacyVerification(ok=True, entries=expected, head_seq=expected - 1, head_hash=prev)


def migrate_legacy_log(log: AuditLog) -> MigrationReport:
    """Move a v1 log aside and start ``log`` keyed, its first entry naming the old head.

    Raises:
        SageError: the file is not a v1 log.
    """
    if not is_legacy(log.path):
        raise SageError(f"{log.path} is not an unkeyed v1 audit log", hint="nothing to migrate; `sagehealth audit verify` checks it")
    result = verify_legacy(log.path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    archived = log.path.with_name(f"{log.path.stem}.v1-{stamp}{log.path.suffix}")
    log.path.rename(archived)
    entry = log.append(AuditEvent(
        actor="system", action="audit:migrate", resource=archived.name, decision="ok" if result.ok else "error",
        details={"legacy_entries": result.entries, "legacy_head": result.head_hash, "legacy_ok": result.ok, "legacy_first_bad_seq": result.first_bad_seq},
    ))
    return MigrationReport(archived_to=str(archived), legacy=result, first_entry_seq=entry.seq)
