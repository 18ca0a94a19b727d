"""Evaluate a policy pack: every tool call, table read, search and output gets a decision.

Decisions are values (:class:`PolicyDecision`), not exceptions, so the governance agent can
record each one in the run state and the audit log, and explain a denial to the caller. Deny
by default: a role the pack does not name gets nothing. This module knows nothing of the
lakehouse (layering): search restrictions come back as plain values for ``SearchFilter``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.errors import SageError
from policies.packs import PolicyPack, RolePolicy

Effect = Literal["allow", "deny", "redact", "review"]


class PolicyDeniedError(SageError):
    """Raised where a caller must not get a value at all (e.g. search filters for an unknown role)."""


class Caller(BaseModel):
    """Who is asking, in which role, for what purpose (from the run context, never from the model)."""

    user: str
    role: str
    purpose: str | None = Field(None, description="Declared purpose of use, e.g. 'treatment' or 'research'.")


class PolicyDecision(BaseModel):
    """One decision with the rule that produced it, for the run state and the audit log."""

    effect: Effect
    reason: str
    rule: str = Field(description="Pack rule that decided, e.g. 'roles.researcher.allowed_tools'.")
    action: str = Field(description="What was attempted, e.g. 'tool:query_records', 'read', 'output'.")
    resource: str = Field(description="What it was attempted on: a tool, table list, or an output fingerprint.")
    caller: Caller
    details: dict[str, Any] = Field(default_factory=dict, description="E.g. the columns to redact.")


def fingerprint(text: str) -> str:
    """A short SHA-256 of a text: identifies an output in decisions and audit without storing it."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class PolicyEngine:
    """Decisions for one pack."""

    def __init__(self, pack: PolicyPack) -> None:
        self.pack = pack

    def _decide(self, effect: Effect, reason: str, rule: str, action: str, resource: str, caller: Caller, **details: Any) -> PolicyDecision:
        return PolicyDecision(effect=effect, reason=reason, rule=rule, action=action, resource=resource, caller=caller, details=details)

    def _gate(self, caller: Caller, action: str, resource: str) -> tuple[RolePolicy | None, PolicyDecision | None]:
        # Role and purpose checks shared by every decision: unknown role or undeclared purpose -> deny.
        policy = self.pack.roles.get(caller.role)
        if policy is None:
            known = ", ".join(sorted(self.pack.roles))
            return None, self._decide("deny", f"role {caller.role!r} is not in policy pack {self.pack.name!r} (roles: {known})", "roles", action, resource, caller)
        if not caller.user or not caller.purpose:  # identity never defaults into privilege
            missing = "user" if not caller.user else "purpose"
            return policy, self._decide("deny", f"no {missing} given: every request declares who asks and why", "identity", action, resource, caller)
        if policy.purposes and caller.purpose not in policy.purposes:
            return policy, self._decide(
                "deny", f"purpose {caller.purpose!r} is not allowed for role {caller.role!r} (allowed: {', '.join(policy.purposes)})",
                f"roles.{caller.role}.purposes", action, resource, caller,
            )
        return policy, None

    def check_tool(self, caller: Caller, tool_name: str) -> PolicyDecision:
        """Decide whether the caller may run this tool."""
        action = f"tool:{tool_name}"
        policy, denied = self._gate(caller, action, tool_name)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        rule = f"roles.{caller.role}.allowed_tools"
        if "*" in policy.allowed_tools or tool_name in policy.allowed_tools:
            return self._decide("allow", f"role {caller.role!r} may use tool {tool_name!r}", rule, action, tool_name, caller)
        return self._decide("deny", f"role {caller.role!r} may not use tool {tool_name!r}", rule, action, tool_name, caller)

    def check_table_access(self, caller: Caller, tables: Sequence[str], columns: Sequence[str]) -> PolicyDecision:
        """Decide whether the caller may read these columns of these tables.

        ``columns`` are names as the query selects them (``mrn`` or ``patients.mrn``); ``*``
        means all columns, which yields ``redact`` with the columns to drop when the role has
        denied columns, and ``deny`` when a denied column is named explicitly.
        """
        resource = ",".join(sorted(tables))
        policy, denied = self._gate(caller, "read", resource)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        not_allowed = sorted(t for t in tables if "*" not in policy.allowed_tables and t not in policy.allowed_tables)
        if not_allowed:
            return self._decide("deny", f"role {caller.role!r} may not read table(s) {', '.join(not_allowed)}", f"roles.{caller.role}.allowed_tables", "read", resource, caller)
        hidden = {t: set(policy.denied_columns.get("*", [])) | set(policy.denied_columns.get(t, [])) for t in tables}
        rule = f"roles.{caller.role}.denied_columns"
        named = sorted({c for c in columns if c != "*" and any(c.rsplit(".", 1)[-1] in cols for cols in hidden.values())})
        if named:
            return self._decide("deny", f"role {caller.role!r} may not read column(s) {', '.join(named)}", rule, "read", resource, caller, columns=named)
        if "*" in columns and any(hidden.values()):
            drop = sorted(set().union(*hidden.values()))
            return self._decide("redact", f"columns {', '.join(drop)} are removed for role {caller.role!r}", rule, "read", resource, caller, columns=drop)
        return self._decide("allow", f"role {caller.role!r} may read {resource}", f"roles.{caller.role}.allowed_tables", "read", resource, caller)

    def search_filter_fields(self, caller: Caller) -> dict[str, Any]:
        """Access-tag restrictions to put into a vector-search filter: sites, consents, max_sensitivity.

        Raises:
            PolicyDeniedError: the role is unknown or its purpose is not allowed (an empty filter
                would mean "no restriction", so there is no safe value to return).
        """
        policy, denied = self._gate(caller, "search", "cases")
        if denied or policy is None:
            raise PolicyDeniedError(denied.reason if denied else "denied", hint="use a role defined in the active policy pack")
        return {"sites": policy.sites, "consents": policy.consents, "max_sensitivity": policy.max_sensitivity}

    def check_relabel(self, caller: Caller, case_id: str) -> PolicyDecision:
        """Decide whether the caller may correct the labels of a case (feedback)."""
        policy, denied = self._gate(caller, "relabel", case_id)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        effect: Effect = "allow" if policy.can_relabel else "deny"
        verb = "may" if policy.can_relabel else "may not"
        return self._decide(effect, f"role {caller.role!r} {verb} relabel cases", f"roles.{caller.role}.can_relabel", "relabel", case_id, caller)

    def check_output(self, caller: Caller, text: str, phi_found: bool) -> PolicyDecision:
        """What to do with an output: allow, or redact/deny when PHI was found in it (pack.phi_output)."""
        resource = fingerprint(text)
        policy, denied = self._gate(caller, "output", resource)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        if phi_found:
            return self._decide(self.pack.phi_output, f"output contains PHI; pack says {self.pack.phi_output}", "phi_output", "output", resource, caller)
        return self._decide("allow", "no PHI found in output", "phi_output", "output", resource, caller)

    def check_review(self, caller: Caller, best_similarity: float | None, uncertain_findings: Sequence[str]) -> PolicyDecision:
        """Decide whether a draft goes to human review (weak retrieval evidence or uncertain findings)."""
        reasons = []
        if best_similarity is not None and best_similarity < self.pack.min_retrieval_similarity:
            reasons.append(f"best retrieval similarity {best_similarity:.2f} < {self.pack.min_retrieval_similarity:.2f}")
        if uncertain_findings and self.pack.review_on_uncertain_findings:
            reasons.append(f"uncertain findings: {', '.join(uncertain_findings)}")
        if reasons:
            return self._decide("review", "; ".join(reasons), "review", "draft", "draft", caller)
        return self._decide("allow", "evidence sufficient, no uncertain findings", "review", "draft", "draft", caller)
