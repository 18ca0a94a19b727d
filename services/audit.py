"""Governance as services: verify and anchor the audit chain, check a policy pack, explain a decision."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from policies.audit import AuditAnchor, AuditVerification, read_anchor
from policies.explain import Explanation
from policies.pack_source import PackCheckReport
from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources


class ExplainRequest(ServiceRequest):
    """A question to the active pack: may ``role``, acting for ``purpose``, use this tool or these tables."""

    role: str = Field(max_length=64)
    purpose: str = Field(max_length=64)
    tool: str | None = Field(None, max_length=64)
    tables: list[str] | None = Field(None, max_length=50)
    action: str | None = Field(None, max_length=32)


def verify(resources: Resources, caller: Caller, anchor: Path | None = None) -> AuditVerification:
    """Check every entry of the audit log (against an exported head anchor when given); the check is audited."""
    with governed(resources, caller, "verify_audit", "audit_verify", resource="audit-log", audit_action="audit:verify"):
        return resources.audit.verify(read_anchor(anchor) if anchor is not None else None)


def anchor(resources: Resources, caller: Caller) -> AuditAnchor:
    """The log's signed head (sequence, MAC, time), to store outside the installation."""
    with governed(resources, caller, "anchor_audit", "audit_verify", resource="audit-log", audit_action="audit:anchor"):
        return resources.audit.anchor()


def check_pack(resources: Resources, caller: Caller, path: str) -> PackCheckReport:
    """Validate a policy pack file without activating it: every issue names file, line and rule."""
    from policies.pack_source import check_pack as check

    with governed(resources, caller, "policy_check_pack", "policy_check", resource=str(path)[:128], audit_action="policy:check"):
        return check(path)


def explain(resources: Resources, caller: Caller, request: ExplainRequest) -> Explanation:
    """Which rule of the active pack decides a question, and why (every rule evaluated is listed)."""
    from policies.explain import explain as why

    with governed(resources, caller, "policy_explain", "policy_check", resource=request.role[:64], audit_action="policy:explain"):
        return why(resources.policy.pack, request.role, request.purpose, tool=request.tool, tables=request.tables, action=request.action)
