"""Fingerprints instead of texts, for audit entries, decisions and error paths.

The audit log and the traces outlive every run and are read by people who must not see
patient data (auditors, operators). So writers store *what identifies* a text (a short
SHA-256) and never the text; SQL keeps its shape (literals become ``?``, comments dropped),
because "which query ran" is what an auditor needs and the literals are where names, MRNs and
dates sit. Errors keep their type and a fingerprint of the message: exception messages echo
their input (``KeyError: 'MRN0012'``), so the message itself is never stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from pydantic import BaseModel, Field

FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{16}\b")
MAX_SQL_SHAPE_CHARS = 200  # keeps a fingerprint under the audit log's 256-char field limit

# Keys whose string values are free text wherever they appear in audit details: replaced by a
# fingerprint before the entry is written (defence in depth for writers that forget).
TEXT_KEYS = frozenset({"error", "message", "exception", "traceback", "text", "prompt", "input", "query", "findings", "impression", "draft", "output", "note", "content"})
SQL_KEYS = frozenset({"sql"})


def fingerprint(text: str) -> str:
    """A short SHA-256 of a text: identifies it in decisions and audit without storing it."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class SqlFingerprint(BaseModel):
    """A query as the audit log keeps it: the hash of its normalized shape and the shape itself."""

    hash: str = Field(description="sha256 of the normalized, literal-free SQL: equal for queries of the same shape.")
    shape: str = Field(description="The SQL with literals replaced by '?', comments removed, whitespace normalized (truncated).")
    literals: int = Field(description="How many literals were replaced.")
    parsed: bool = Field(description="False when the SQL did not parse and a conservative token scrub was used.")

    def __str__(self) -> str:
        return f"{self.hash} {self.shape}"


_COMMENT_RE = re.compile(r"--[^\n]*|/\*.*?(\*/|$)", re.S)
_STRING_RE = re.compile(r"'(?:[^']|'')*(?:'|$)|\$\$.*?(?:\$\$|$)|\"(?:[^\"]|\"\")*(?:\"|$)", re.S)
_NUMBER_RE = re.compile(r"(?<![A-Za-z_0-9])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _scrub(sql: str) -> tuple[str, int]:
    """Token-level fallback for SQL sqlglot cannot parse: drop comments, replace strings and numbers."""
    text = _COMMENT_RE.sub(" ", sql)
    text, strings = _STRING_RE.subn("?", text)
    text, numbers = _NUMBER_RE.subn("?", text)
    return " ".join(text.split()), strings + numbers


def _normalize(sql: str) -> tuple[str, int, bool]:
    import sqlglot
    from sqlglot import exp

    # sqlglot logs unsupported SQL *verbatim* at WARNING: that would put the literals we are
    # removing into the application log, so its logger is muted while parsing.
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except Exception:  # noqa: BLE001 - any parse failure falls back to the scrub
        statements = []
    finally:
        logger.setLevel(level)
    # A statement sqlglot only wraps as a raw Command keeps its text: scrub it instead.
    if not statements or any(s.find(exp.Command) is not None or isinstance(s, exp.Command) for s in statements):
        text, count = _scrub(sql)
        return text, count, False
    count = 0
    for statement in statements:
        for node in list(statement.find_all(exp.Literal)):
            node.replace(exp.Placeholder())
            count += 1
        # A double-quoted name may be a value typed with the wrong quotes ("Smith"): never kept.
        for ident in list(statement.find_all(exp.Identifier)):
            if ident.args.get("quoted"):
                ident.replace(exp.to_identifier("?", quoted=True))
                count += 1
    text = "; ".join(s.sql(dialect="duckdb", comments=False) for s in statements)
    return " ".join(text.split()), count, True


def sql_fingerprint(sql: str) -> SqlFingerprint:
    """The audit form of a query: normalized-shape hash plus the literal-free shape.

    Two queries that differ only in their literals (``WHERE mrn = 'A1'`` / ``'B2'``) share a
    hash, so the hash cannot be used to confirm a guessed name or MRN.
    """
    shape, count, parsed = _normalize(sql)
    digest = "sha256:" + hashlib.sha256(shape.encode("utf-8")).hexdigest()[:16]
    if len(shape) > MAX_SQL_SHAPE_CHARS:
        shape = shape[: MAX_SQL_SHAPE_CHARS - 1] + "…"
    return SqlFingerprint(hash=digest, shape=shape, literals=count, parsed=parsed)


def fingerprint_sql(sql: str) -> str:
    """``"sha256:<16 hex> <SQL with literals as ?>"``: what audit details store under ``sql``."""
    return str(sql_fingerprint(sql))


def error_record(exc: BaseException) -> dict[str, Any]:
    """An exception as audit and traces keep it: type names and a message fingerprint, never the message."""
    record: dict[str, Any] = {"type": type(exc).__name__, "module": type(exc).__module__, "fingerprint": fingerprint(str(exc))}
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        record["cause_type"] = type(cause).__name__
    return record


def redact_details(value: Any, key: str = "") -> Any:
    """Replace free-text values under text/SQL keys with fingerprints (recursively); keep the rest.

    Values already in fingerprint form are kept, so redacting twice changes nothing.
    """
    if isinstance(value, dict):
        return {k: redact_details(v, str(k).lower()) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_details(v, key) for v in value]
    if isinstance(value, str) and not FINGERPRINT_RE.match(value):
        if key in SQL_KEYS:
            return fingerprint_sql(value)
        if key in TEXT_KEYS:
            return fingerprint(value)
    if isinstance(value, BaseException):
        return error_record(value)
    return value
