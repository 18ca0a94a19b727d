"""The feedback loop's own raw-tier Delta tables: ``feedback_events`` and ``label_versions``.

Append-only like every raw table (:mod:`lakehouse.raw.store`): a row is identified by its key;
a changed row (a queued proposal later applied, rolled back) is a new row with ``_version`` + 1;
writing a row whose content is already the latest is a no-op. That last property is what makes
a replayed journal idempotent. They sit next to the ingest tables in ``settings.lakehouse_dir``
but are not in :data:`lakehouse.raw.schema.TABLES`, so ingestion and the role-scoped SQL views
do not see them until the service layer decides to expose them.

The per-finding current labels stay in ``report_labels`` (every reader already uses it); these
tables add who/why/which event and a full snapshot per version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.settings import Settings
from lakehouse.raw.store import content_hash, latest_per_key, read_delta

_S, _F, _I = pa.string(), pa.float64(), pa.int64()

SCHEMAS: dict[str, tuple[str, list[tuple[str, pa.DataType]]]] = {
    "feedback_events": ("event_id", [
        ("event_id", _S), ("kind", _S), ("status", _S), ("case_id", _S), ("changes", _S), ("user", _S), ("role", _S),
        ("reviewer", _S), ("reason", _S), ("run_id", _S), ("parent_event_id", _S), ("similarity", _F), ("confidence", _F),
        ("supporting_sentence", _S), ("created_at", _S),
    ]),
    "label_versions": ("version_id", [
        ("version_id", _S), ("case_id", _S), ("version", _I), ("labels", _S), ("changed", _S), ("kind", _S), ("event_id", _S),
        ("parent_event_id", _S), ("actor", _S), ("role", _S), ("reason", _S), ("created_at", _S),
    ]),
}
_PROVENANCE = [("_content_hash", _S), ("_version", _I), ("_written_at", pa.timestamp("us", tz="UTC"))]


def dumps(value: Any) -> str:
    """Canonical JSON for the JSON-valued columns (sorted keys, so equal content hashes equal)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def schema(table: str) -> pa.Schema:
    """Stored schema of a feedback table (business columns, then provenance)."""
    return pa.schema([pa.field(n, t) for n, t in SCHEMAS[table][1] + _PROVENANCE])


class FeedbackTables:
    """Append-only access to the two feedback tables of one ``SAGE_HOME``."""

    def __init__(self, settings: Settings) -> None:
        self.root: Path = settings.lakehouse_dir

    def path(self, table: str) -> Path:
        """Folder of a feedback table (KeyError for other names)."""
        SCHEMAS[table]
        return self.root / table

    def exists(self, table: str) -> bool:
        """Whether the table has been written."""
        return (self.path(table) / "_delta_log").is_dir()

    def scan(self, table: str, history: bool = False) -> list[dict[str, Any]]:
        """Rows: the latest version per key, or every version with ``history=True``."""
        if not self.exists(table):
            return []
        data = read_delta(self.path(table))
        return (data if history else latest_per_key(data, SCHEMAS[table][0])).to_pylist()

    def append(self, table: str, rows: list[dict[str, Any]]) -> int:
        """Write rows whose content differs from their key's latest version; returns how many were written."""
        key, columns = SCHEMAS[table]
        names = [n for n, _ in columns]
        current = {r[key]: (r["_version"], r["_content_hash"]) for r in self.scan(table)}
        out = []
        now = datetime.now(UTC)
        for raw in rows:
            row = {n: raw.get(n) for n in names}
            digest = content_hash(row)
            prev = current.get(row[key])
            if prev is not None and prev[1] == digest:
                continue
            version = 1 if prev is None else prev[0] + 1
            current[row[key]] = (version, digest)
            out.append({**row, "_content_hash": digest, "_version": version, "_written_at": now})
        if out:
            from deltalake import write_deltalake

            self.path(table).mkdir(parents=True, exist_ok=True)
            write_deltalake(str(self.path(table)), pa.Table.from_pylist(out, schema=schema(table)), mode="append")
        return len(out)
