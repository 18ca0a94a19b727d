"""Evaluate a policy pack: every tool call, table read, search and output gets a decision.

Decisions are values (:class:`PolicyDecision`), not exceptions, so the governance agent can
record each one in the run state and the audit log, and explain a denial to the caller. Deny
by default: a role the pack does not name gets nothing. This module knows nothing of the
lakehouse (layering): search restrictions come back as plain values for ``SearchFilter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.errors import SageError
from policies.identity import Caller, VerifiedCaller, identity_problem
from policies.packs import PolicyPack, PurposeRule, RolePolicy
from policies.redact import fingerprint

__all__ = ["Caller", "PolicyDecision", "PolicyDeniedError", "PolicyEngine", "RuleStep", "VerifiedCaller", "fingerprint"]

Effect = Literal["allow", "deny", "redact", "review"]


class PolicyDeniedError(SageError):
    """Raised where a caller must not get a value at all (e.g. search filters for an unknown role)."""


class PolicyDecision(BaseModel):
    """One decision with the rule that produced it, for the run state and the audit log."""

    effect: Effect
    reason: str
    rule: str = Field(description="Pack rule that decided, e.g. 'roles.researcher.allowed_tools'.")
    action: str = Field(description="What was attempted, e.g. 'tool:query_records', 'read', 'output'.")
    resource: str = Field(description="What it was attempted on: a tool, table list, or an output fingerprint.")
    caller: Caller
    details: dict[str, Any] = Field(default_factory=dict, description="E.g. the columns to redact.")


class RuleStep(BaseModel):
    """One rule the engine evaluated on the way to a decision (``policies.explain``)."""

    rule: str
    outcome: Literal["pass", "fail", "info"]
    detail: str


Trace = list[RuleStep] | None


def _note(trace: Trace, rule: str, outcome: Literal["pass", "fail", "info"], detail: str) -> None:
    if trace is not None:
        trace.append(RuleStep(rule=rule, outcome=outcome, detail=detail))


class PolicyEngine:
    """Decisions for one pack. Every method that takes ``trace`` appends the rules it evaluated."""

    def __init__(self, pack: PolicyPack) -> None:
        self.pack = pack

    def _decide(self, effect: Effect, reason: str, rule: str, action: str, resource: str, caller: Caller, **details: Any) -> PolicyDecision:
        return PolicyDecision(effect=effect, reason=reason, rule=rule, action=action, resource=resource, caller=caller, details=details)

    def _gate(self, caller: Caller, action: str, resource: str, trace: Trace = None) -> tuple[RolePolicy | None, PurposeRule | None, PolicyDecision | None]:
        """Identity, role and purpose checks shared by every decision; fail closed at each.

        An empty or missing user, role or purpose is denied (never defaulted); a role the pack
        does not name, a purpose the role may not declare, and (when the pack has purpose
        rules) a purpose the pack does not declare are denied.
        """
        problem = identity_problem(caller)
        if problem:
            _note(trace, "identity", "fail", problem)
            return None, None, self._decide("deny", f"{problem}: identity is never defaulted", "identity", action, resource, caller)
        _note(trace, "identity", "pass", f"user, role {caller.role!r} and purpose {caller.purpose!r} are given")
        policy = self.pack.roles.get(caller.role)
        if policy is None:
            known = ", ".join(sorted(self.pack.roles))
            _note(trace, "roles", "fail", f"role {caller.role!r} is not in the pack")
            return None, None, self._decide("deny", f"role {caller.role!r} is not in policy pack {self.pack.name!r} (roles: {known})", "roles", action, resource, caller)
        _note(trace, f"roles.{caller.role}", "pass", f"role {caller.role!r} is defined")
        rule = f"roles.{caller.role}.purposes"
        if caller.purpose not in policy.purposes:
            allowed = ", ".join(policy.purposes) or "none declared"
            _note(trace, rule, "fail", f"purpose {caller.purpose!r} not in {allowed}")
            return policy, None, self._decide("deny", f"purpose {caller.purpose!r} is not allowed for role {caller.role!r} (allowed: {allowed})", rule, action, resource, caller)
        _note(trace, rule, "pass", f"role {caller.role!r} may declare purpose {caller.purpose!r}")
        purpose = self.pack.purposes.get(str(caller.purpose))
        if self.pack.purposes and purpose is None:
            _note(trace, "purposes", "fail", f"purpose {caller.purpose!r} is not declared by the pack")
            return policy, None, self._decide("deny", f"purpose {caller.purpose!r} is not declared in policy pack {self.pack.name!r}", "purposes", action, resource, caller)
        if purpose is not None:
            _note(trace, f"purposes.{caller.purpose}", "info", purpose.description or f"purpose {caller.purpose!r} is declared")
        return policy, purpose, None

    def check_tool(self, caller: Caller, tool_name: str, *, trace: Trace = None) -> PolicyDecision:
        """Decide whether the caller may run this tool (or pseudo-tool action such as ``review``)."""
        action = f"tool:{tool_name}"
        policy, purpose, denied = self._gate(caller, action, tool_name, trace)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        rule = f"roles.{caller.role}.allowed_tools"
        if not ("*" in policy.allowed_tools or tool_name in policy.allowed_tools):
            _note(trace, rule, "fail", f"{tool_name!r} is not in the role's tools")
            return self._decide("deny", f"role {caller.role!r} may not use tool {tool_name!r}", rule, action, tool_name, caller)
        _note(trace, rule, "pass", f"{tool_name!r} is among the role's tools" if tool_name in policy.allowed_tools else "the role may use every tool ('*')")
        if purpose is not None and purpose.allowed_tools is not None:
            prule = f"purposes.{caller.purpose}.allowed_tools"
            if not ("*" in purpose.allowed_tools or tool_name in purpose.allowed_tools):
                _note(trace, prule, "fail", f"{tool_name!r} is not needed for purpose {caller.purpose!r}")
                return self._decide("deny", f"purpose {caller.purpose!r} does not permit tool {tool_name!r} (minimum necessary / purpose limitation)", prule, action, tool_name, caller)
            _note(trace, prule, "pass", f"purpose {caller.purpose!r} permits {tool_name!r}")
            rule = prule
        return self._decide("allow", f"role {caller.role!r} may use tool {tool_name!r} for {caller.purpose!r}", rule, action, tool_name, caller)

    def hidden_columns(self, caller: Caller, tables: Sequence[str]) -> dict[str, set[str]]:
        """Table -> columns this caller never sees: the role's denials plus identifiers when de-identified."""
        policy = self.pack.roles.get(caller.role)
        if policy is None:
            return {t: {"*"} for t in tables}
        purpose = self.pack.purposes.get(str(caller.purpose))
        deid = policy.deidentified or (purpose is not None and purpose.deidentified)
        ids = self.pack.identifier_columns() if deid else {}
        return {t: set(policy.denied_columns.get("*", [])) | set(policy.denied_columns.get(t, [])) | ids.get(t, set()) for t in tables}

    def check_table_access(self, caller: Caller, tables: Sequence[str], columns: Sequence[str], *, trace: Trace = None) -> PolicyDecision:
        """Decide whether the caller may read these columns of these tables.

        ``columns`` are names as the query selects them (``mrn`` or ``patients.mrn``); ``*``
        means all columns, which yields ``redact`` with the columns to drop when the role has
        denied columns, and ``deny`` when a denied column is named explicitly.
        """
        resource = ",".join(sorted(tables))
        policy, purpose, denied = self._gate(caller, "read", resource, trace)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        table_rule = f"roles.{caller.role}.allowed_tables"
        not_allowed = sorted(t for t in tables if "*" not in policy.allowed_tables and t not in policy.allowed_tables)
        if not_allowed:
            _note(trace, table_rule, "fail", f"not among the role's tables: {', '.join(not_allowed)}")
            return self._decide("deny", f"role {caller.role!r} may not read table(s) {', '.join(not_allowed)}", table_rule, "read", resource, caller)
        _note(trace, table_rule, "pass", f"the role may read {resource}")
        if purpose is not None and purpose.allowed_tables is not None:
            prule = f"purposes.{caller.purpose}.allowed_tables"
            outside = sorted(t for t in tables if "*" not in purpose.allowed_tables and t not in purpose.allowed_tables)
            if outside:
                _note(trace, prule, "fail", f"not needed for purpose {caller.purpose!r}: {', '.join(outside)}")
                return self._decide("deny", f"purpose {caller.purpose!r} does not permit table(s) {', '.join(outside)} (minimum necessary)", prule, "read", resource, caller)
            _note(trace, prule, "pass", f"purpose {caller.purpose!r} permits {resource}")
            table_rule = prule
        hidden = self.hidden_columns(caller, tables)
        rule = f"roles.{caller.role}.denied_columns"
        if policy.deidentified or (purpose is not None and purpose.deidentified):
            rule = f"roles.{caller.role}.deidentified" if policy.deidentified else f"purposes.{caller.purpose}.deidentified"
            _note(trace, rule, "info", "identifier columns listed under 'identifiers' are hidden")
        named = sorted({c for c in columns if c != "*" and any(c.rsplit(".", 1)[-1] in cols for cols in hidden.values())})
        if named:
            _note(trace, rule, "fail", f"hidden column(s) named: {', '.join(named)}")
            return self._decide("deny", f"role {caller.role!r} may not read column(s) {', '.join(named)}", rule, "read", resource, caller, columns=named)
        if "*" in columns and any(hidden.values()):
            drop = sorted(set().union(*hidden.values()))
            _note(trace, rule, "info", f"removed from '*': {', '.join(drop)}")
            return self._decide("redact", f"columns {', '.join(drop)} are removed for role {caller.role!r}", rule, "read", resource, caller, columns=drop)
        _note(trace, rule, "pass", "no hidden column is selected")
        return self._decide("allow", f"role {caller.role!r} may read {resource}", table_rule, "read", resource, caller)

    def search_filter_fields(self, caller: Caller, *, trace: Trace = None) -> dict[str, Any]:
        """Access-tag restrictions to put into a vector-search filter: sites, consents, max_sensitivity.

        The purpose's ``requires_consent`` narrows the role's consents (intersection; an empty
        list then matches no record: ``SearchFilter`` treats ``[]`` as "nothing").

        Raises:
            PolicyDeniedError: identity missing, role unknown or purpose not allowed (an empty
                filter would mean "no restriction", so there is no safe value to return).
        """
        policy, purpose, denied = self._gate(caller, "search", "cases", trace)
        if denied or policy is None:
            raise PolicyDeniedError(denied.reason if denied else "denied", hint="use a role and purpose defined in the active policy pack")
        consents = policy.consents
        if purpose is not None and purpose.requires_consent is not None:
            consents = list(purpose.requires_consent) if consents is None else [c for c in consents if c in purpose.requires_consent]
            _note(trace, f"purposes.{caller.purpose}.requires_consent", "info", f"records must carry consent {', '.join(purpose.requires_consent)}")
        _note(trace, f"roles.{caller.role}", "info", f"sites {policy.sites}, consents {consents}, max sensitivity {policy.max_sensitivity}")
        return {"sites": policy.sites, "consents": consents, "max_sensitivity": policy.max_sensitivity}

    def check_relabel(self, caller: Caller, case_id: str, *, trace: Trace = None) -> PolicyDecision:
        """Decide whether the caller may correct the labels of a case (feedback)."""
        policy, _, denied = self._gate(caller, "relabel", case_id, trace)
        if denied or policy is None:
            return denied  # type: ignore[return-value]
        effect: Effect = "allow" if policy.can_relabel else "deny"
        verb = "may" if policy.can_relabel else "may not"
        _note(trace, f"roles.{caller.role}.can_relabel", "pass" if policy.can_relabel else "fail", f"can_relabel is {policy.can_relabel}")
        return self._decide(effect, f"role {caller.role!r} {verb} relabel cases", f"roles.{caller.role}.can_relabel", "relabel", case_id, caller)

    def check_output(self, caller: Caller, text: str, phi_found: bool) -> PolicyDecision:
        """What to do with an output: allow, or redact/deny when PHI was found in it (pack.phi_output)."""
        resource = fingerprint(text)
        policy, _, denied = self._gate(caller, "output", resource)
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
