"""The audit chain's data: events, stored entries, anchors, verification reports, and the MACs.

Entry ``n`` stores ``seq = n``, ``prev_mac`` (entry ``n-1``'s MAC; :data:`GENESIS` for the first)
and ``mac = HMAC-SHA256(key, canonical JSON of every other field)``. Because ``prev_mac`` and
``seq`` are inside the MAC, an edit, a removal, a reordering or an inserted entry shows up at
that entry, and nobody without the key can compute a MAC that verifies, so re-chaining after an
edit (what defeats a plain hash chain) fails at the first edited entry.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from policies.redact import redact_details

GENESIS = "0" * 64
FORMAT_VERSION = 2
MAX_VALUE_CHARS = 256  # longer strings are texts, not ids: store policies.redact.fingerprint(text)
_ENTRY_DOMAIN = b"sage-audit-entry-v2\n"
_ANCHOR_DOMAIN = b"sage-audit-anchor-v2\n"


class AuditEvent(BaseModel):
    """What happened: who did what to which resource, with what decision, in which run.

    ``details`` is redacted on construction: strings under text keys (``error``, ``message``,
    ``text``, ``note``, ...) become fingerprints and ``sql`` becomes its literal-free shape
    (:func:`policies.redact.redact_details`), so a writer that forgets cannot leak a text.
    """

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

    @field_validator("details", mode="before")
    @classmethod
    def _redact(cls, value: Any) -> Any:
        return redact_details(value) if isinstance(value, dict) else value

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
    """An event as stored: format version, sequence number, time, key id and its chain MAC."""

    v: int = FORMAT_VERSION
    seq: int = Field(ge=0, description="0, 1, 2, ... without gaps: a gap or repeat is a removed or reordered entry.")
    time: str
    key_id: str = Field(description="Public id of the key that signed the entry (policies.audit_key.key_id).")
    prev_mac: str
    mac: str

    @field_validator("details", mode="before")
    @classmethod
    def _redact(cls, value: Any) -> Any:
        return value  # stored entries are read back as written: re-redacting would change their MAC input


class AuditAnchor(BaseModel):
    """The chain head at one moment, signed with the key: store it outside the host to catch truncation.

    A later :meth:`AuditLog.verify` with this anchor fails when the log no longer holds entry
    ``seq`` with exactly this MAC (entries cut off the end, or the log rebuilt).
    """

    v: int = FORMAT_VERSION
    log: str = Field(description="File name of the log the anchor was taken from.")
    seq: int = Field(ge=-1, description="Sequence number of the head entry (-1: empty log).")
    mac: str = Field(description="MAC of the head entry (GENESIS for an empty log).")
    entry_time: str | None = Field(default=None, description="Time of the head entry.")
    time: str = Field(description="When the anchor was taken.")
    key_id: str
    sig: str = Field(default="", description="HMAC over the other fields with the audit key: a forged anchor does not verify.")


class AuditProblem(BaseModel):
    """The first bad place in a log: line number, sequence number, kind and a plain reason."""

    line: int = Field(description="1-based line in the log file (one past the end for a truncated tail).")
    seq: int | None = Field(description="Sequence number concerned (the entry found there, or the first one missing).")
    kind: Literal["malformed", "mac", "sequence", "link", "key", "truncated", "rewritten", "anchor", "head", "legacy"]
    reason: str


class AuditVerification(BaseModel):
    """Result of checking a log: ``ok``, entries read, and the first problem."""

    ok: bool
    entries: int = Field(description="Entries that verified (up to the first bad one).")
    first_bad_seq: int | None = Field(default=None, description="Sequence number of the first problem (also in ``problem``).")
    reason: str | None = None
    problem: AuditProblem | None = None
    head_seq: int = Field(default=-1, description="Sequence number of the last entry that verified.")
    checked_anchor: bool = Field(default=False, description="An exported anchor was given and checked.")
    checked_head: bool = Field(default=False, description="The head record kept beside the log was checked.")

    @classmethod
    def failed(cls, problem: AuditProblem, entries: int, head_seq: int, *, checked_anchor: bool = False, checked_head: bool = False) -> AuditVerification:
        """A failed verification whose ``first_bad_seq``/``reason`` mirror the problem (older readers use them)."""
        return cls(ok=False, entries=entries, first_bad_seq=problem.seq, reason=f"line {problem.line}: {problem.reason}", problem=problem, head_seq=head_seq, checked_anchor=checked_anchor, checked_head=checked_head)


def canonical(data: dict[str, Any]) -> str:
    """The one JSON form that is MAC'd and written: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_mac(key: bytes, body: dict[str, Any]) -> str:
    """HMAC-SHA256 of an entry body (every field except ``mac``)."""
    return hmac.new(key, _ENTRY_DOMAIN + canonical(body).encode("utf-8"), "sha256").hexdigest()


def anchor_sig(key: bytes, anchor: AuditAnchor) -> str:
    """HMAC-SHA256 of an anchor's fields except ``sig``."""
    return hmac.new(key, _ANCHOR_DOMAIN + canonical(anchor.model_dump(mode="json", exclude={"sig"})).encode("utf-8"), "sha256").hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison for MACs."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
