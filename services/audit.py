"""The audit log as a service: verify the hash chain (who may: the pack's ``audit_verify``)."""

from __future__ import annotations

from policies.audit import AuditVerification
from services.base import Caller, require_caller
from tools.governed import authorize
from tools.resources import Resources


def verify(resources: Resources, caller: Caller) -> AuditVerification:
    """Check every entry of the audit log; the check itself is audited."""
    require_caller(caller)
    authorize(resources, caller, "audit_verify", resource="audit-log", audit_action="audit:verify")
    return resources.audit.verify()
