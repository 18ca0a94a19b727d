"""The audit log as a service: verify the hash chain (who may: the pack's ``audit_verify``)."""

from __future__ import annotations

from policies.audit import AuditVerification
from services.base import Caller, governed
from tools.resources import Resources


def verify(resources: Resources, caller: Caller) -> AuditVerification:
    """Check every entry of the audit log; the check itself is audited."""
    with governed(resources, caller, "verify_audit", "audit_verify", resource="audit-log", audit_action="audit:verify"):
        return resources.audit.verify()
