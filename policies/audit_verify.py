"""Verify a keyed audit log: every entry's MAC, sequence and link, then the tail against anchors.

The first failure is reported with its line, sequence number, kind and reason, checked in the
order that names the cause best: a MAC that does not verify means the entry was altered or
forged (whoever wrote it lacked the key); a valid MAC at the wrong sequence means entries
around it were removed or reordered; a cut-off tail leaves every remaining entry valid, so
only a head record (beside the log) or an anchor (exported) can reveal it.
"""

from __future__ import annotations

import json
from pathlib import Path

from policies.audit_chain import (
    GENESIS,
    AuditAnchor,
    AuditProblem,
    AuditVerification,
    anchor_sig,
    entry_mac,
    same,
)
from policies.audit_key import key_id

LEGACY_HINT = "it predates keyed audit logs: run `sagehealth audit migrate` (policies.audit_legacy.migrate_legacy_log) to verify it and start a keyed log"


def _check_anchor(anchor: AuditAnchor, source: str, key: bytes, macs: dict[int, tuple[int, str]], head_seq: int, n_lines: int) -> AuditProblem | None:
    if anchor.key_id != key_id(key):
        return AuditProblem(line=0, seq=anchor.seq, kind="anchor", reason=f"the {source} was signed with another key ({anchor.key_id})")
    if not same(anchor_sig(key, anchor), anchor.sig):
        return AuditProblem(line=0, seq=anchor.seq, kind="anchor", reason=f"the {source}'s signature does not verify: the anchor was forged or edited")
    if anchor.seq > head_seq:
        return AuditProblem(
            line=n_lines + 1, seq=head_seq + 1, kind="truncated",
            reason=f"log ends at seq {head_seq} but the {source} (taken {anchor.time}) records seq {anchor.seq}: entries {head_seq + 1}..{anchor.seq} were removed from the end",
        )
    if anchor.seq >= 0 and not same(macs[anchor.seq][1], anchor.mac):
        return AuditProblem(line=macs[anchor.seq][0], seq=anchor.seq, kind="rewritten", reason=f"seq {anchor.seq} is not the entry the {source} recorded: the log was rebuilt")
    return None


def _check_head(head_path: Path, key: bytes, macs: dict[int, tuple[int, str]], head_seq: int, n_lines: int) -> AuditProblem | None:
    if not head_path.exists():
        if head_seq < 0:
            return None
        return AuditProblem(
            line=n_lines + 1, seq=None, kind="head",
            reason=f"head record {head_path.name} is missing: entries removed from the end cannot be ruled out (restore it, or verify against an exported anchor)",
        )
    try:
        head = AuditAnchor.model_validate_json(head_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return AuditProblem(line=n_lines + 1, seq=None, kind="head", reason=f"head record {head_path.name} is not a valid anchor")
    return _check_anchor(head, "head record", key, macs, head_seq, n_lines)


def verify_log(path: Path, head_path: Path, key: bytes | None, anchor: AuditAnchor | None = None, *, key_error: str | None = None) -> AuditVerification:
    """Verify ``path`` with ``key``; see :meth:`policies.audit.AuditLog.verify`."""
    lines = path.read_bytes().split(b"\n") if path.exists() else []
    if lines and lines[-1] == b"":
        lines.pop()
    checked_anchor, checked_head = anchor is not None, False
    kid = key_id(key) if key is not None else None
    prev, expected = GENESIS, 0
    macs: dict[int, tuple[int, str]] = {}

    def fail(problem: AuditProblem) -> AuditVerification:
        return AuditVerification.failed(problem, entries=expected, head_seq=expected - 1, checked_anchor=checked_anchor, checked_head=checked_head)

    for lineno, raw in enumerate(lines, start=1):
        try:
            row = json.loads(raw.decode("utf-8"))
            if not isinstance(row, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError):
            return fail(AuditProblem(line=lineno, seq=expected, kind="malformed", reason="not a valid audit entry (not a JSON object)"))
        if expected == 0 and "mac" not in row and "hash" in row:
            return fail(AuditProblem(line=lineno, seq=row.get("seq"), kind="legacy", reason=f"unkeyed v1 (SHA-256) audit log: {LEGACY_HINT}"))
        if key is None or kid is None:
            return fail(AuditProblem(line=lineno, seq=row.get("seq"), kind="key", reason=f"cannot verify without the audit key: {key_error}"))
        mac, seq = row.pop("mac", None), row.get("seq")
        if not isinstance(mac, str) or not isinstance(seq, int):
            return fail(AuditProblem(line=lineno, seq=expected, kind="malformed", reason="entry lacks its seq or mac"))
        if row.get("key_id") != kid:
            who = "the log was written with another key (wrong SAGE_AUDIT_KEY_FILE?)" if expected == 0 else "entry was not written by this log's key: forged"
            return fail(AuditProblem(line=lineno, seq=seq, kind="key", reason=f"key id {row.get('key_id')!r} is not {kid}: {who}"))
        if not same(entry_mac(key, row), mac):
            return fail(AuditProblem(line=lineno, seq=seq, kind="mac", reason=f"seq {seq}: MAC does not verify: the entry was altered, or forged without the key"))
        if seq != expected:
            why = f"entries {expected}..{seq - 1} removed (or moved)" if seq > expected else f"seq {seq} appears again after seq {expected - 1}: entries reordered or replayed"
            return fail(AuditProblem(line=lineno, seq=seq, kind="sequence", reason=f"expected seq {expected}, found {seq}: {why}"))
        if not same(str(row.get("prev_mac")), prev):
            return fail(AuditProblem(line=lineno, seq=seq, kind="link", reason=f"seq {seq} does not follow seq {seq - 1} (spliced from another chain)"))
        macs[seq] = (lineno, mac)
        prev, expected = mac, expected + 1

    head_seq = expected - 1
    if key is None:
        if anchor is not None or head_path.exists():
            return fail(AuditProblem(line=len(lines) + 1, seq=None, kind="key", reason=f"cannot check the anchor without the audit key: {key_error}"))
        return AuditVerification(ok=True, entries=0, head_seq=-1, checked_anchor=checked_anchor)
    if anchor is not None and (problem := _check_anchor(anchor, "anchor", key, macs, head_seq, len(lines))):
        return fail(problem)
    checked_head = True
    if problem := _check_head(head_path, key, macs, head_seq, len(lines)):
        return fail(problem)
    return AuditVerification(ok=True, entries=expected, head_seq=head_seq, checked_anchor=checked_anchor, checked_head=True)
