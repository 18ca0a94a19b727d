"""One case's radiology report, de-identified, as a service (the MCP ``sage://cases/{id}/report`` resource).

The report is read through the ``query_records`` tool called for the person, so the role's
table scope, the audit entry and the ``execute_tool`` span are the same as ``sagehealth query``;
its texts then pass through the installation's redactor before they leave, so a client of the
MCP server never sees a name, a date or an identifier the de-identifier recognises.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.errors import SageError
from services.base import Caller, ServiceRequest, require_caller, workflow
from services.data import invoker
from tools.resources import Resources

# Ids are inlined into the SQL, so only id characters pass (the same rule as patient ids).
CASE_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
TEXT_FIELDS = ("indication", "comparison", "findings", "impression")


class CaseNotFoundError(SageError):
    """No report with this id is visible to the caller."""


class CaseRequest(ServiceRequest):
    """Which case's report to read."""

    case_id: str = Field(pattern=CASE_ID_PATTERN, description="Case (report) id, as search hits and citations name it.")


class CaseReport(BaseModel):
    """A case's report with every free-text section de-identified."""

    case_id: str
    modality: str | None = None
    split: str | None = None
    indication: str = ""
    comparison: str = ""
    findings: str = ""
    impression: str = ""
    masked: int = Field(0, description="Identifiers the redactor replaced across the sections.")

    def as_text(self) -> str:
        """The report as plain text (what an MCP resource returns)."""
        parts = [f"CASE {self.case_id}" + (f" ({self.modality})" if self.modality else "")]
        parts += [f"{name.upper()}: {getattr(self, name)}" for name in TEXT_FIELDS if getattr(self, name)]
        return "\n".join(parts)


def case_report(resources: Resources, caller: Caller, request: CaseRequest) -> CaseReport:
    """The de-identified report of ``request.case_id``, within the caller's table scope.

    Raises:
        CaseNotFoundError: no such case (or the caller's scope hides it).
        ToolDeniedError: the role may not read records.
    """
    require_caller(caller)
    sql = f"SELECT report_id, modality, split, indication, comparison, findings, impression FROM reports WHERE report_id = '{request.case_id}'"
    with workflow(resources, caller, "case_report"):
        rows = invoker(resources, caller).call("query_records", {"sql": sql, "limit": 1}).rows  # type: ignore[attr-defined]
        if not rows:
            raise CaseNotFoundError(f"no case {request.case_id!r}", hint="use a case id from a similar-case search or a run's citations")
        row = rows[0]
        redacted = resources.redactor.redact_batch([str(row.get(f) or "") for f in TEXT_FIELDS])
    texts = {f: r.text for f, r in zip(TEXT_FIELDS, redacted, strict=True)}
    return CaseReport(case_id=str(row["report_id"]), modality=row.get("modality"), split=row.get("split"), masked=sum(len(r.entities) for r in redacted), **texts)
