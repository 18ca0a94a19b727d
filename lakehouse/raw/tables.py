"""Arrow types of the raw-tier tables, and coercion of ingested rows to them.

:mod:`lakehouse.raw.schema` names the columns; this module pins their types so that every
writer produces identical Delta schemas and every reader (DuckDB, Spark, Trino) sees real
dates, timestamps and numbers. FHIR ``date`` fields become ``date32``, FHIR ``dateTime``
fields UTC timestamps (a value without an offset is taken as UTC), lists ``list<string>``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from lakehouse.raw.schema import PROVENANCE_COLUMNS, TABLES

TS = pa.timestamp("us", tz="UTC")
STR_LIST = pa.list_(pa.string())

# Columns that are not plain strings; every other business column is pa.string().
_TYPED: dict[str, pa.DataType] = {
    "patients.birth_date": pa.date32(),
    "patients.sensitivity": pa.int32(),
    "encounters.start": TS,
    "encounters.end": TS,
    "observations.value": pa.float64(),
    "observations.effective_at": TS,
    "conditions.onset": pa.date32(),
    "medications.authored_on": TS,
    "reports.study_date": pa.date32(),
    "reports.mesh": STR_LIST,
    "reports.image_ids": STR_LIST,
    "report_labels.label_version": pa.int32(),
    "images.width": pa.int32(),
    "images.height": pa.int32(),
}

PROVENANCE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_source", pa.string(), nullable=False),
    pa.field("_ingested_at", TS, nullable=False),
    pa.field("_content_hash", pa.string(), nullable=False),
    pa.field("_version", pa.int64(), nullable=False),
    pa.field("_batch_id", pa.string(), nullable=False),
)
assert tuple(f.name for f in PROVENANCE_FIELDS) == PROVENANCE_COLUMNS


class RowTypeError(ValueError):
    """A value cannot be coerced to its column type (the caller names the file)."""

    def __init__(self, table: str, column: str, value: Any, why: str) -> None:
        super().__init__(f"{table}.{column}: {why} (got {value!r})")
        self.table = table
        self.column = column


def column_type(table: str, column: str) -> pa.DataType:
    """Arrow type of one business column."""
    return _TYPED.get(f"{table}.{column}", pa.string())


def business_schema(table: str) -> pa.Schema:
    """Schema of the business columns only (what ingesters provide)."""
    _, columns = TABLES[table]
    return pa.schema([pa.field(c, column_type(table, c)) for c in columns])


def table_schema(table: str) -> pa.Schema:
    """Full stored schema: business columns then provenance columns."""
    return pa.schema(list(business_schema(table)) + list(PROVENANCE_FIELDS))


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        # FHIR allows partial dateTimes ("2020", "2020-05"); pad to a full date.
        if len(text) == 4:
            text += "-01-01"
        elif len(text) == 7:
            text += "-01"
        dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _coerce(value: Any, typ: pa.DataType) -> Any:
    if value is None or value == "":
        return None if typ != pa.string() else value
    if typ == pa.string():
        return str(value)
    if pa.types.is_integer(typ):
        if isinstance(value, bool):
            raise ValueError("boolean is not an integer")
        return int(value)
    if pa.types.is_floating(typ):
        return float(value)
    if pa.types.is_date32(typ):
        return _to_datetime(value).date()
    if pa.types.is_timestamp(typ):
        return _to_datetime(value)
    if pa.types.is_list(typ):
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise ValueError("expected a list of strings")
        return [str(v) for v in value]
    raise TypeError(f"unsupported type {typ}")


def coerce_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """Business columns of ``row`` coerced to their types; missing columns become null.

    Raises:
        RowTypeError: naming the column whose value does not fit (unknown columns too).
    """
    _, columns = TABLES[table]
    unknown = set(row) - set(columns)
    if unknown:
        col = sorted(unknown)[0]
        raise RowTypeError(table, col, row[col], f"unknown column; expected {', '.join(columns)}")
    out: dict[str, Any] = {}
    for col in columns:
        try:
            out[col] = _coerce(row.get(col), column_type(table, col))
        except (ValueError, TypeError) as exc:
            raise RowTypeError(table, col, row.get(col), str(exc)) from exc
    return out
