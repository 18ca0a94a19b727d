"""Governance tools: ``policy_check`` and ``redact_phi`` (used by the governance agent).

Both answer for the caller in ``deps`` (role and purpose from the run's Context): a model may
ask whether an action is allowed, never for whom.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


MAX_TEXTS = 256


class RedactArgs(BaseModel):
    """Arguments of ``redact_phi``: one text, or several at once (``texts``).

    Several at once is one analyzer pass: the governance agent masks every string field of an
    output in one call (about 22 ms for the 18 fields of a report draft, against 57 ms one by
    one), and the run's trace shows one tool call instead of one per field.
    """

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=20000, description="Text that may contain PHI (names, MRNs, dates, phone numbers, addresses, ages over 89).")
    texts: list[Annotated[str, Field(max_length=20000)]] | None = Field(
        None, min_length=1, max_length=MAX_TEXTS, description="Several texts, redacted in one pass; the result's ``items`` keep their order.")

    @model_validator(mode="after")
    def _one_form(self) -> RedactArgs:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of text or texts")
        return self


class RedactedText(BaseModel):
    """One text with its PHI replaced by typed placeholders, and what was found."""

    text: str
    entities: list[dict[str, Any]] = Field(default_factory=list, description="PHI spans found: type, start, end (never the PHI itself).")


class Redaction(ToolResult, RedactedText):
    """The redacted ``text`` (one-text form), or one item per text of ``texts``, in order."""

    items: list[RedactedText] = Field(default_factory=list, description="Per text of ``texts``; empty in the one-text form.")


def redact_phi(deps: ToolDeps, args: RedactArgs) -> Redaction:
    """Replace PHI with typed placeholders."""
    source = Provenance(source="phi:presidio")
    if args.texts is None:
        (item,) = _redacted([deps.resources.redactor.redact(args.text or "")])
        return Redaction(text=item.text, entities=item.entities, provenance=source)
    return Redaction(text="", items=_redacted(deps.resources.redactor.redact_batch(args.texts)), provenance=source)


def _redacted(results: Any) -> list[RedactedText]:
    return [RedactedText(text=r.text, entities=[{"type": e.type, "start": e.start, "end": e.end} for e in r.entities]) for r in results]


register_tool(ToolDefinition(name="policy_check", description="Ask the active policy pack whether the caller may perform an action.", args_model=PolicyCheckArgs, result_model=PolicyVerdict, run=policy_check))
register_tool(ToolDefinition(name="redact_phi", description="Replace protected health information in a text with typed placeholders.", args_model=RedactArgs, result_model=Redaction, run=redact_phi))
