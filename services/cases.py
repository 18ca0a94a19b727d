"""One retrieved case, de-identified, for a person who saw its id cited (the web page's case view).

Agents cite case ids as evidence; a clinician clicking one should read the case under the same
rules as retrieval: the role needs ``retrieve_similar_cases``, the case must pass the role's
access tags (site, consent, sensitivity; a case outside them reads as unknown, so its existence
is not disclosed), and the text passes the de-identifier before it leaves. One audit event.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.errors import SageError
from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources

CASE_ACTION = "retrieve_similar_cases"


class CaseNotFoundError(SageError):
    """No case with that id that the caller may see."""


class CaseRequest(ServiceRequest):
    """A case by the id agents cite (a report id)."""

    case_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class CaseView(BaseModel):
    """A de-identified case: findings, impression and labels; identifiers replaced by placeholders."""

    case_id: str
    findings: str
    impression: str
    labels: dict[str, str] = Field(default_factory=dict)
    positive_findings: list[str] = Field(default_factory=list)
    split: str | None = None
    redacted: list[str] = Field(default_factory=list, description="PHI entity types replaced in the texts.")


def _visible(payload: dict[str, Any], access: dict[str, Any]) -> bool:
    """Whether a payload passes the role's access tags (empty allow-lists allow nothing)."""
    sites, consents, max_sensitivity = access.get("sites"), access.get("consents"), access.get("max_sensitivity")
    if sites is not None and payload.get("site") not in sites:
        return False
    if consents is not None and payload.get("consent") not in consents:
        return False
    if max_sensitivity is not None:
        level = payload.get("sensitivity")
        return isinstance(level, int) and level <= max_sensitivity
    return True


def case(resources: Resources, caller: Caller, request: CaseRequest) -> CaseView:
    """The de-identified case ``request.case_id``, if the caller's role may retrieve it.

    Raises:
        tools.governed.ActionDeniedError: the role may not retrieve cases (audited).
        CaseNotFoundError: no such case, or one outside the role's access tags.
    """
    with governed(resources, caller, "show_case", CASE_ACTION, resource=request.case_id, audit_action="case:show"):
        access = resources.policy.search_filter_fields(caller)
        points = resources.store.retrieve([request.case_id])
        if not points or not _visible(points[0].payload, access):
            raise CaseNotFoundError(f"no case {request.case_id!r} visible to role {caller.role!r}", hint="use a case id cited by a run or a search")
        payload = points[0].payload
        texts = [str(payload.get("findings") or ""), str(payload.get("impression") or "")]
        redactions = resources.redactor.redact_batch(texts)
        return CaseView(
            case_id=request.case_id,
            findings=redactions[0].text,
            impression=redactions[1].text,
            labels={str(k): str(v) for k, v in (payload.get("labels") or {}).items()},
            positive_findings=[str(f) for f in payload.get("positive_findings") or []],
            split=payload.get("split"),
            redacted=sorted({e.type for r in redactions for e in r.entities}),
        )
