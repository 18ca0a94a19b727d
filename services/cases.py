"""One case's radiology report, de-identified, as a service (the MCP ``sage://cases/{id}/report`` resource).

The report is read through the ``query_records`` tool called for the person, so the role's
table scope, the audit entry and the ``execute_tool`` span are the same as ``sagehealth query``;
its texts then pass through the installation's redactor before they leave, so a client of the
MCP server never sees a name, a date or an identifier the de-identifier recognises.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.errors import SageError
from services.base import Caller, ServiceRequest, governed, require_caller, workflow
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
    require_caller(caller, resources)
    sql = f"SELECT report_id, modality, split, indication, comparison, findings, impression FROM reports WHERE report_id = '{request.case_id}'"
    with workflow(resources, caller, "case_report"):
        rows = invoker(resources, caller).call("query_records", {"sql": sql, "limit": 1}).rows  # type: ignore[attr-defined]
        if not rows:
            raise CaseNotFoundError(f"no case {request.case_id!r}", hint="use a case id from a similar-case search or a run's citations")
        row = rows[0]
        redacted = resources.redactor.redact_batch([str(row.get(f) or "") for f in TEXT_FIELDS])
    texts = {f: r.text for f, r in zip(TEXT_FIELDS, redacted, strict=True)}
    return CaseReport(case_id=str(row["report_id"]), modality=row.get("modality"), split=row.get("split"), masked=sum(len(r.entities) for r in redacted), **texts)


class CaseView(BaseModel):
    """A de-identified case as the web page shows a cited id: findings, impression and labels."""

    case_id: str
    findings: str
    impression: str
    labels: dict[str, str] = Field(default_factory=dict)
    positive_findings: list[str] = Field(default_factory=list)
    split: str | None = None
    redacted: list[str] = Field(default_factory=list, description="PHI entity types replaced in the texts.")


def case(resources: Resources, caller: Caller, request: CaseRequest) -> CaseView:
    """A cited case under the same rules as retrieval (the role needs ``retrieve_similar_cases``).

    A case outside the caller's data scope (site, consent, sensitivity) reads as unknown, so its
    existence is not disclosed; its texts pass the de-identifier before they leave.

    Raises:
        tools.governed.ActionDeniedError: the role may not retrieve cases (audited).
        CaseNotFoundError: no such case, or one outside the caller's scope.
    """
    from lakehouse.access import in_scope
    from policies.scope import ALL_SITES, DataScope

    with governed(resources, caller, "show_case", "retrieve_similar_cases", resource=request.case_id, audit_action="case:show"):
        scope = DataScope.from_policy(resources.policy, caller.role, str(caller.purpose), getattr(caller, "site", None) or ALL_SITES, caller.user)
        points = resources.store.retrieve([request.case_id])
        if not points or not in_scope(points[0].payload, scope):
            raise CaseNotFoundError(f"no case {request.case_id!r} visible to role {caller.role!r}", hint="use a case id cited by a run or a search")
        payload = points[0].payload
        redactions = resources.redactor.redact_batch([str(payload.get("findings") or ""), str(payload.get("impression") or "")])
        return CaseView(
            case_id=request.case_id, findings=redactions[0].text, impression=redactions[1].text,
            labels={str(k): str(v) for k, v in (payload.get("labels") or {}).items()},
            positive_findings=[str(f) for f in payload.get("positive_findings") or []], split=payload.get("split"),
            redacted=sorted({e.type for r in redactions for e in r.entities}),
        )
