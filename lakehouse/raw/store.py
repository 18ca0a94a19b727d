"""The raw tier: append-only Delta Lake tables with per-row provenance and versions.

Each table of :mod:`lakehouse.raw.schema` is one Delta table under ``settings.lakehouse_dir``.
Rows are never updated: an ingest computes a content hash of each row's business columns and
writes only rows whose key is new (``_version`` 1) or whose content changed (``_version`` + 1),
so re-ingesting the same data writes nothing and a correction keeps the old version readable.

A batch that touches several tables runs inside :meth:`RawStore.transaction`: on an exception
every table is restored to the Delta version it had before, so readers never see half a batch
(the restore is itself a Delta commit, which keeps the failed attempt auditable).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from core.errors import SageError
from core.settings import Settings
from lakehouse.raw.schema import TABLES
from lakehouse.raw.tables import coerce_row, table_schema

log = logging.getLogger(__name__)


class RawStoreError(SageError):
    """A raw-tier table is missing, unknown, or cannot be written."""


class AppendResult(BaseModel):
    """What one append wrote."""

    table: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    written_keys: list[str] = Field(default_factory=list, description="Keys of the new and changed rows, in input order.")
    delta_version: int | None = Field(None, description="Delta version of the table after the write (None: nothing written).")


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def content_hash(row: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, ISO dates) of a row's business columns."""
    canon = {k: _canonical(v) for k, v in row.items()}
    return hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def latest_per_key(data: pa.Table, key: str) -> pa.Table:
    """Rows holding the highest ``_version`` of each key, ordered by key."""
    if data.num_rows == 0:
        return data
    order = data.sort_by([(key, "ascending"), ("_version", "descending")])
    keys = order.column(key).to_numpy(zero_copy_only=False)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return order.filter(pa.array(first))


def read_delta(path: Path, version: int | None = None, columns: list[str] | None = None) -> pa.Table:
    """One Delta table snapshot as Arrow, its Parquet files read through Arrow's own local filesystem.

    Why not ``DeltaTable.to_pyarrow_table()``: that reads through deltalake's Python filesystem
    handler, so Arrow's I/O threads call back into Python. When the interpreter exits while one
    of them still does, CPython ends that C++ thread and libstdc++ aborts the process ("terminate
    called without an active exception", exit 134). With deltalake 1.6 and pyarrow 26 that hit
    16 of 40 short runs that only read a table, and about one ``sagehealth labels history`` in
    three, after the command had done its work. Read natively it hit none of 40, at the same speed.
    """
    import pyarrow.fs as pafs
    from deltalake import DeltaTable

    native = pafs.SubTreeFileSystem(str(path.resolve()), pafs.LocalFileSystem())
    return DeltaTable(str(path), version=version).to_pyarrow_dataset(filesystem=native).to_table(columns=columns)


class RawStore:
    """Append-only access to the raw-tier Delta tables of one ``SAGE_HOME``."""

    def __init__(self, settings: Settings) -> None:
        self.root: Path = settings.lakehouse_dir
        self._in_transaction = False

    def path(self, table: str) -> Path:
        """Folder of one Delta table (raises on unknown names)."""
        if table not in TABLES:
            raise RawStoreError(f"unknown raw table {table!r}", hint=f"one of: {', '.join(TABLES)}")
        return self.root / table

    def exists(self, table: str) -> bool:
        """Whether the table has been written at least once."""
        return (self.path(table) / "_delta_log").is_dir()

    def _delta(self, table: str, version: int | None = None):  # noqa: ANN202 - deltalake is imported lazily
        from deltalake import DeltaTable

        return DeltaTable(str(self.path(table)), version=version)

    def table_version(self, table: str) -> int | None:
        """Current Delta version of a table (provenance: which snapshot an answer read), or None."""
        return self._delta(table).version() if self.exists(table) else None

    def table_versions(self) -> dict[str, int | None]:
        """Delta version of every table."""
        return {t: self.table_version(t) for t in TABLES}

    def scan(self, table: str, history: bool = False, version: int | None = None) -> pa.Table:
        """Rows of a table: the latest version per key, or every version with ``history=True``.

        Args:
            table: Raw table name.
            history: Return all versions of every key.
            version: Read the Delta snapshot at this table version (time travel).
        """
        if not self.exists(table):
            return table_schema(table).empty_table()
        data = read_delta(self.path(table), version)
        return data if history else latest_per_key(data, TABLES[table][0])

    def current_versions(self, table: str) -> dict[str, int]:
        """Key -> latest ``_version``."""
        return {k: v for k, (v, _) in self._current_hashes(table).items()}

    def _current_hashes(self, table: str) -> dict[str, tuple[int, str]]:
        if not self.exists(table):
            return {}
        key = TABLES[table][0]
        data = read_delta(self.path(table), columns=[key, "_version", "_content_hash"])
        latest = latest_per_key(data, key)
        return dict(zip(latest.column(key).to_pylist(), zip(latest.column("_version").to_pylist(), latest.column("_content_hash").to_pylist(), strict=True), strict=True))

    def append(self, table: str, rows: Iterable[dict[str, Any]], source: str | Sequence[str], batch_id: str) -> AppendResult:
        """Write the new and changed rows of ``rows``; identical rows are counted, not written.

        Args:
            table: Raw table name.
            rows: Business-column dicts (coerced to the table's types).
            source: The file or generator the rows came from, or one source per row.
            batch_id: Id of the ingest call (shared by every table it writes).

        Raises:
            RowTypeError: a value does not fit its column (nothing is written).
        """
        key = TABLES[table][0]
        current = self._current_hashes(table)
        result = AppendResult(table=table)
        out: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        rows = list(rows)
        sources = [source] * len(rows) if isinstance(source, str) else list(source)
        if len(sources) != len(rows):
            raise RawStoreError(f"{table}: {len(sources)} sources for {len(rows)} rows", hint="pass one source per row or a single source")
        for raw, src in zip(rows, sources, strict=True):
            row = coerce_row(table, raw)
            k = row[key]
            if not k:
                raise RawStoreError(f"{table}: row from {source} has no key {key!r}", hint="every row needs its key column")
            digest = content_hash(row)
            prev = current.get(k)
            if prev is not None and prev[1] == digest:
                result.unchanged += 1
                continue
            version = 1 if prev is None else prev[0] + 1
            result.new += prev is None
            result.changed += prev is not None
            current[k] = (version, digest)
            result.written_keys.append(k)
            out.append({**row, "_source": src, "_ingested_at": now, "_content_hash": digest, "_version": version, "_batch_id": batch_id})
        if out:
            label = source if isinstance(source, str) else f"{len(set(sources))} sources"
            result.delta_version = self._write(table, pa.Table.from_pylist(out, schema=table_schema(table)), batch_id, label)
        return result

    def _write(self, table: str, data: pa.Table, batch_id: str, source: str) -> int:
        from deltalake import CommitProperties, write_deltalake

        path = self.path(table)
        path.mkdir(parents=True, exist_ok=True)
        props = CommitProperties(custom_metadata={"sage.batch_id": batch_id, "sage.source": source[:500]})
        write_deltalake(str(path), data, mode="append", commit_properties=props)
        return self._delta(table).version()

    @contextmanager
    def transaction(self) -> Iterator[RawStore]:
        """All appends inside succeed together or are rolled back (re-entrant: inner ones join).

        On an exception each table returns to its Delta version from before the block (tables
        created inside the block are removed) and the exception propagates.
        """
        if self._in_transaction:
            yield self
            return
        before = self.table_versions()
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self.rollback_to(before)
            raise
        finally:
            self._in_transaction = False

    def rollback_to(self, versions: dict[str, int | None]) -> None:
        """Restore each table to the given Delta version (None: the table did not exist)."""
        for table, version in versions.items():
            now = self.table_version(table)
            if now == version:
                continue
            if version is None:
                log.warning("rollback: removing table %s created by the failed batch", table)
                shutil.rmtree(self.path(table), ignore_errors=True)
            else:
                log.warning("rollback: restoring %s from version %s to %s", table, now, version)
                self._delta(table).restore(version)
