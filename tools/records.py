"""``query_records`` (read-only SQL) and ``get_patient_record`` over the raw tier.

SQL from a model or a user is checked before it runs: one read-only statement, only the
tables and columns the caller's role may read (``lakehouse.sql_guard``, applied by the query
engine). The role's scope (``allowed_tables``, ``denied_columns``) arrives in
``deps.sql_scope`` from the policy pack, never from the arguments.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from tools.base import Provenance, ToolDefinition, ToolDeps, ToolResult, register_tool

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class QueryArgs(BaseModel):
    """Arguments of ``query_records``."""

    sql: str = Field(min_length=1, max_length=4000, description="One read-only DuckDB SELECT over the raw-tier views (patients, encounters, observations, conditions, medications, reports, report_labels).")
    limit: int = Field(200, ge=1, le=5000, description="Most rows returned (1-5000).")


class Rows(ToolResult):
    """Query result rows."""

    columns: list[str]
    rows: list[dict[str, Any]]
    sql: str = Field(description="The statement as executed (normalised by the guard).")
    truncated: bool = False


def run_sql(deps: ToolDeps, sql: str, limit: int) -> tuple[list[str], list[dict[str, Any]], bool, str]:
    """Guard and run one statement within the role's scope; returns (columns, rows, truncated)."""
    from tools.scope import scoped_query

    engine = scoped_query(deps)  # the caller's own catalog: forbidden rows and columns are not in it
    allowed_tables = deps.sql_scope.get("allowed_tables")
    denied: dict[str, set[str]] = deps.sql_scope.get("denied_columns") or {}
    allowed_columns = None
    if denied:
        # The guard takes per-table allowlists; the pack states denials ('*' = every table).
        tables = engine.tables if allowed_tables is None else set(allowed_tables) & engine.tables
        allowed_columns = {t: set(engine.columns(t)) - denied.get("*", set()) - denied.get(t.removesuffix("_history"), set()) for t in tables}
    result = engine.sql(sql, allowed_tables=allowed_tables, allowed_columns=allowed_columns, max_rows=limit)
    return list(result.columns), result.records(), bool(result.truncated), result.sql


def query_records(deps: ToolDeps, args: QueryArgs) -> Rows:
    """Run a guarded read-only query and cite the key ids of the rows it returns."""
    columns, rows, truncated, sql = run_sql(deps, args.sql, args.limit)
    id_cols = [c for c in columns if c.endswith("_id")][:1]
    ids = [str(r[id_cols[0]]) for r in rows if r.get(id_cols[0]) is not None] if id_cols else []
    return Rows(columns=columns, rows=rows, sql=sql, truncated=truncated, provenance=Provenance(source="duckdb:raw", ids=ids))


class PatientArgs(BaseModel):
    """Arguments of ``get_patient_record``."""

    patient_id: str = Field(pattern=_ID.pattern, description="Patient id as stored in the raw tier (letters, digits, _.:- ; up to 64 characters).")


class PatientRecord(ToolResult):
    """A patient's current conditions, medications, labs and radiology reports."""

    patient_id: str
    patient: dict[str, Any] | None = Field(None, description="Demographic row (identifying columns left out); None when the id is unknown.")
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    medications: list[dict[str, Any]] = Field(default_factory=list)
    labs: list[dict[str, Any]] = Field(default_factory=list)
    reports: list[dict[str, Any]] = Field(default_factory=list)


_RECORD_SQL = {
    "patient": "SELECT patient_id, sex, site, consent, sensitivity FROM patients WHERE patient_id = '{pid}'",
    "conditions": "SELECT condition_id, icd10_code, description, onset, clinical_status FROM conditions WHERE patient_id = '{pid}' ORDER BY onset",
    "medications": "SELECT medication_id, drug_name, rxnorm_code, dose, route, frequency, status FROM medications WHERE patient_id = '{pid}' ORDER BY authored_on",
    "labs": "SELECT observation_id, loinc_code, name, value, unit, effective_at FROM observations WHERE patient_id = '{pid}' ORDER BY effective_at DESC LIMIT 50",
    "reports": "SELECT report_id, study_date, indication, findings, impression FROM reports WHERE patient_id = '{pid}' ORDER BY study_date",
}


def get_patient_record(deps: ToolDeps, args: PatientArgs) -> PatientRecord:
    """Read the record section by section; a section the role may not read is left empty."""
    from lakehouse.sql_guard import ForbiddenQueryError

    pid = args.patient_id  # validated against _ID above, so inlining it cannot inject SQL
    sections: dict[str, list[dict[str, Any]]] = {}
    ids: list[str] = []
    for section, template in _RECORD_SQL.items():
        try:
            _, rows, _, _ = run_sql(deps, template.format(pid=pid), 500)
        except ForbiddenQueryError:
            rows = []
        sections[section] = rows
        ids += [str(next(iter(r.values()))) for r in rows]
    patient = sections.pop("patient")
    return PatientRecord(patient_id=pid, patient=patient[0] if patient else None, **sections, provenance=Provenance(source="duckdb:raw", ids=[pid, *ids]))


register_tool(
    ToolDefinition(
        name="query_records",
        description="Run one read-only SQL SELECT over the raw clinical tables (policy-restricted).",
        args_model=QueryArgs,
        result_model=Rows,
        run=query_records,
    )
)
register_tool(
    ToolDefinition(
        name="get_patient_record",
        description="A patient's conditions, medications, recent labs and radiology reports.",
        args_model=PatientArgs,
        result_model=PatientRecord,
        run=get_patient_record,
    )
)
