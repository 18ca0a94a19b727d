"""Governance tools: ``policy_check`` and ``redact_phi`` (used by the governance agent).

Both answer for the caller in ``deps`` (role and purpose from the run's Context): a model may
ask whether an action is allowed, never for whom.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tools.base import Provenance, ToolDefinition, ToolDeps, ToolResult, register_tool


class PolicyCheckArgs(BaseModel):
    """Arguments of ``policy_check``."""

    tools: list[str] = Field(min_length=1, max_length=20, description="Tool names the caller wants to use (e.g. ['retrieve_similar_cases', 'generate_text']).")


class PolicyVerdict(ToolResult):
    """The engine's decision for the caller: deny if any tool is denied."""

    effect: str = Field(description="allow | deny")
    reason: str = ""
    rule: str | None = None
    per_tool: dict[str, str] = Field(default_factory=dict, description="Tool -> effect.")


def decision_fields(decision: Any) -> dict[str, Any]:
    """Effect, reason and rule of a ``policies.engine.PolicyDecision`` (or its dict form)."""
    data = decision.model_dump(mode="json") if isinstance(decision, BaseModel) else dict(decision)
    effect = data.get("effect", "allow")
    return {"effect": str(effect), "reason": str(data.get("reason", "")), "rule": data.get("rule")}


def policy_check(deps: ToolDeps, args: PolicyCheckArgs) -> PolicyVerdict:
    """Ask the active policy pack about each tool for this caller (role, purpose from deps)."""
    engine = deps.resources.policy
    caller = deps.policy_caller()
    verdicts = {name: decision_fields(engine.check_tool(caller, name)) for name in args.tools}
    denied = next((v for v in verdicts.values() if v["effect"] == "deny"), None)
    first = denied or next(iter(verdicts.values()))
    reason = first["reason"] if denied else f"role {deps.role!r} (purpose {deps.purpose!r}) may use {', '.join(args.tools)}"
    return PolicyVerdict(
        effect="deny" if denied else "allow",
        reason=reason,
        rule=first["rule"],
        per_tool={k: v["effect"] for k, v in verdicts.items()},
        provenance=Provenance(source=f"policy:{deps.settings.policy_pack}", ids=list(args.tools)),
    )


class RedactArgs(BaseModel):
    """Arguments of ``redact_phi``."""

    text: str = Field(max_length=20000, description="Text that may contain PHI (names, MRNs, dates, phone numbers, addresses, ages over 89).")


class Redaction(ToolResult):
    """Redacted text and what was found."""

    text: str
    entities: list[dict[str, Any]] = Field(default_factory=list, description="PHI spans found: type, start, end (never the PHI itself).")


def redact_phi(deps: ToolDeps, args: RedactArgs) -> Redaction:
    """Replace PHI with typed placeholders."""
    result = deps.resources.redactor.redact(args.text)
    entities = [{"type": e.type, "start": e.start, "end": e.end} for e in result.entities]
    return Redaction(text=result.text, entities=entities, provenance=Provenance(source="phi:presidio"))


register_tool(ToolDefinition(name="policy_check", description="Ask the active policy pack whether the caller may perform an action.", args_model=PolicyCheckArgs, result_model=PolicyVerdict, run=policy_check))
register_tool(ToolDefinition(name="redact_phi", description="Replace protected health information in a text with typed placeholders.", args_model=RedactArgs, result_model=Redaction, run=redact_phi))
