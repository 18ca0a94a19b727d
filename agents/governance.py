"""Governance agent: the gate before any data is touched and the check on every output.

Pre-check (``governance_pre``): the policy pack must allow the task for the caller's role and
purpose (an unknown role or purpose is denied by the pack), and the request must neither look
like prompt injection nor ask for harm (``policies.guards``: lethal dosing orders, falsified
records, disabled alarms, ...); both are declined with the reason before any task runs.
Evidence screening (``screen_retrieved``, called by the data agent): retrieved and tool texts
that look like injected instructions are dropped before the model sees them, with a decision.
Post-check (``governance_post``): PHI in the output is redacted, citations
must point at evidence the data agent actually gathered, injected instructions in the output
are flagged, dropped evidence and draft claims the evidence does not support (grounding) send
the output to review, and weak evidence (top similarity under the pack's threshold) or uncertain
findings send the output to a human through ``interrupt()``; the reviewer approves, edits or
rejects it (``sagehealth review``), and the run resumes from the checkpoint.
"""

from __future__ import annotations

import copy
from typing import Any, Literal, cast

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agents.base import run_agent
from agents.guards import (
    cited_ids,
    grounding_reasons,
    injection_hits,
    screen,
    screen_evidence,
    set_path,
    strings_in,
)
from agents.workers import task_and_input
from core.telemetry import Attr
from tools.contract import Context, PolicyDecisionRecord, RunState, caller_context
from tools.governance import MAX_TEXTS
from tools.governed import GOVERNANCE_TOOLS, ActionDeniedError, authorize, decide

REVIEW_ACTIONS = ("approve", "edit", "reject")


def _decision(state: RunState, stage: str, effect: Any, reason: str, rule: str | None = None) -> PolicyDecisionRecord:
    return {"stage": stage, "agent": "governance", "effect": effect, "reason": reason, "rule": rule, "run_id": state.get("run_id")}


def governance_pre(state: RunState, runtime: Runtime[Context]) -> Command[Literal["data", "__end__"]]:
    """Graph node: allow or deny the request before any data agent runs (denied: the run ends here)."""

    def body(ctx: Any, span: Any) -> dict[str, Any]:
        request = state["request"]
        needed = sorted({t for step in state.get("plan", []) for t in step["tools"]} - GOVERNANCE_TOOLS)
        verdict = ctx.call_tool("policy_check", {"tools": needed or ["retrieve_similar_cases"]})
        decisions = [_decision(state, "pre", verdict.effect, f"task {request['task']!r}: {verdict.reason}", verdict.rule)]
        hits = screen({"text": request.get("text", ""), "input": request.get("input", {})}, "user")
        if harm := [h for h in hits if h.guard == "harm"]:
            decisions.append(_decision(state, "pre", "deny", "declined: the request asks for harm or falsified care (" + "; ".join(f"{h.path}: {h.reason}" for h in harm) + ")", "harm-guard"))
        if injection := [h for h in hits if h.guard == "injection"]:
            decisions.append(_decision(state, "pre", "deny", "possible prompt injection in " + "; ".join(f"{h.path}: {h.reason}" for h in injection), "injection-guard"))
        denied = next((d for d in decisions if d["effect"] == "deny"), None)
        span.set_attribute(Attr.POLICY_EFFECT, "deny" if denied else "allow")
        if denied:
            return {"policy_decisions": decisions, "status": "denied", "error": {"type": "PolicyDenied", "message": denied["reason"], "hint": "ask an administrator for a role/purpose that allows this task", "agent": "governance_pre"}}
        return {"policy_decisions": decisions}

    return run_agent("governance_pre", "governance", state, caller_context(runtime), body)


def screen_retrieved(state: RunState, evidence: dict[str, Any]) -> dict[str, Any]:
    """State update for gathered evidence: injected items dropped, with one decision per drop.

    Called by the data agent on what ``spec.retrieve`` returned, before any model sees it.
    """
    screened, dropped = screen_evidence(evidence)
    decisions = [
        _decision(state, "evidence", "redact", f"evidence {d.key} item {d.item_id or d.paths[0]} dropped: possible prompt injection in retrieved/tool text [rules: {', '.join(d.rules)}]", "injection-guard")
        for d in dropped
    ]
    return {"evidence": screened, **({"policy_decisions": decisions} if decisions else {})}


def _labeler() -> Any:
    from lakehouse.labeler.labeler import label_text

    return label_text


def _review_reasons(state: RunState, output: dict[str, Any], ctx: Context) -> list[str]:
    evidence = cast(dict[str, Any], state.get("evidence") or {})
    reasons: list[str] = []
    if dropped := evidence.get("dropped_as_injection"):
        reasons.append("retrieved evidence looked like prompt injection and was dropped: " + ", ".join(str(d.get("item_id") or d.get("key")) for d in dropped))
    request = cast(dict[str, Any], state.get("request") or {})
    query = str((request.get("input") or {}).get("findings") or "")
    reasons += grounding_reasons(str(request.get("task") or ""), output, evidence, query, _labeler())
    missing = cited_ids(output) - {str(i) for i in evidence.get("ids", [])}
    if missing:
        reasons.append(f"output cites ids not in the evidence: {sorted(missing)}")
    if hits := injection_hits(output, "tool"):
        reasons.append(f"instruction-like text in output fields {hits}")
    uncertain = sorted(output.get("uncertain") or output.get("uncertain_findings") or [])
    if output.get("needs_review"):  # the task's own checks (e.g. an empty draft)
        reasons.extend(str(r) for r in output.get("review_reasons", []) or ["the task asked for review"])
    verdict = ctx.res.policy.check_review(_caller(ctx), evidence.get("best_similarity"), uncertain)
    if verdict.effect == "review":
        reasons.append(verdict.reason)
    return list(dict.fromkeys(reasons))


def _caller(ctx: Context) -> Any:
    from policies.engine import Caller

    return Caller(user=ctx.user, role=ctx.role, purpose=ctx.purpose)


def _redact_fields(ctx: Any, output: dict[str, Any], fields: Any = None) -> list[str]:
    """Redact PHI in place in the string leaves of ``output`` (only under ``fields`` when given).

    Returns ``"path (TYPES)"`` for each leaf where something was masked (never the PHI itself).
    """
    scope = output if fields is None else {k: output[k] for k in fields if k in output}
    leaves = [(path, text) for path, text in strings_in(scope) if text.strip()]
    redacted: list[str] = []
    for start in range(0, len(leaves), MAX_TEXTS):  # one tool call (one analyzer pass) per MAX_TEXTS fields
        chunk = leaves[start:start + MAX_TEXTS]
        result = ctx.call_tool("redact_phi", {"texts": [text for _, text in chunk]})
        for (path, _), item in zip(chunk, result.items, strict=True):
            if item.entities:
                set_path(output, path, item.text)
                redacted.append(f"{path} ({', '.join(sorted({e['type'] for e in item.entities}))})")
    return redacted


def _phi_denied(state: RunState, context: Context, redacted: list[str], where: str, hint: str) -> dict[str, Any] | None:
    """The denied state when PHI was found and the pack's ``phi_output`` says deny, else None."""
    verdict = context.res.policy.check_output(_caller(context), ";".join(redacted), bool(redacted))
    if verdict.effect != "deny":
        return None
    reason = f"PHI in {where} {'; '.join(redacted)}: {verdict.reason}"
    error = {"type": "PolicyDenied", "message": reason, "hint": hint, "agent": "governance_post"}
    return {"output": None, "policy_decisions": [_decision(state, "post", "deny", reason, "phi")], "status": "denied", "error": error}


def governance_post(state: RunState, runtime: Runtime[Context]) -> Command[Literal["governance_post", "__end__"]]:
    """Graph node: redact, check grounding, and pause for human review when needed.

    Whoever resumes the paused run is the reviewer: their identity is the resuming run's
    context (set by the entry point, never by the resume payload), and the pack must grant
    their role ``review``. A refused reviewer's answer is discarded (audited) and the run
    goes back to waiting for review.
    """
    context = caller_context(runtime)

    def body(ctx: Any, span: Any) -> dict[str, Any]:
        output = copy.deepcopy(state.get("output") or {})
        decisions: list[PolicyDecisionRecord] = []
        redacted = _redact_fields(ctx, output)
        if denied := _phi_denied(state, context, redacted, "output fields", "remove identifiers from the request"):
            span.set_attribute(Attr.POLICY_EFFECT, "deny")
            return denied
        if redacted:
            decisions.append(_decision(state, "post", "redact", f"PHI redacted in {'; '.join(redacted)}", "phi"))
        reasons = _review_reasons(state, output, context)
        if not reasons:
            decisions.append(_decision(state, "post", "allow", "output grounded in evidence, no PHI left", "post-check"))
            span.set_attribute(Attr.POLICY_EFFECT, "redact" if redacted else "allow")
            return {"output": output, "policy_decisions": decisions}
        span.set_attribute(Attr.POLICY_EFFECT, "review")
        spec, _ = task_and_input(state)
        answer = interrupt({"run_id": state.get("run_id"), "thread_id": state.get("thread_id"), "task": spec.name, "reasons": reasons, "output": output, "actions": list(REVIEW_ACTIONS)})
        verb = str((answer if isinstance(answer, dict) else {"action": answer}).get("action"))[:32]
        try:  # the services authorised (and audited) the reviewer already; other doors are audited here
            if decide(context.res, _caller(context), ["review"]).effect == "deny":
                authorize(context.res, _caller(context), "review", resource=str(state.get("thread_id")), run_id=state.get("run_id"), audit_action=f"review:{verb}")
        except ActionDeniedError as exc:
            refused = _decision(state, "review", "deny", f"review by {context.user} refused: {exc.message}", "human-review")
            return {"policy_decisions": [refused], "step": state.get("step", 0), "goto": "governance_post"}
        return _apply_review(state, context, ctx, spec, output, answer, decisions, reasons)

    return run_agent("governance_post", "governance", state, context, body)


def _apply_review(
    state: RunState, context: Context, ctx: Any, spec: Any, output: dict[str, Any], answer: Any, decisions: list[PolicyDecisionRecord], reasons: list[str],
) -> dict[str, Any]:
    answer = answer if isinstance(answer, dict) else {"action": str(answer)}
    action = answer.get("action")
    who = f"{context.user} ({context.role})"  # the authorised resumer, not what the payload claims
    note = {"note": str(answer.get("note") or "")}
    _redact_fields(ctx, note)  # the note is shown with the run's decisions: no PHI there either
    why = f"{who}: {note['note'] or action} (review asked because: {'; '.join(reasons)})"
    if action == "approve":
        return {"output": output, "policy_decisions": [*decisions, _decision(state, "review", "allow", why, "human-review")]}
    if action == "edit":
        changes = answer.get("output") or {}
        edited = spec.output_model.model_validate({**output, **changes}).model_dump(mode="json")
        # A reviewer's text is checked like the model's: PHI is masked (or the run denied, per pack).
        redacted = _redact_fields(ctx, edited, changes)
        if denied := _phi_denied(state, context, redacted, "the reviewer's edit of", "edit again without identifiers"):
            denied["policy_decisions"] = [*decisions, *denied["policy_decisions"]]
            return denied
        if redacted:
            decisions = [*decisions, _decision(state, "review", "redact", f"PHI redacted in the reviewer's edit of {'; '.join(redacted)}", "phi")]
        return {"output": edited, "policy_decisions": [*decisions, _decision(state, "review", "allow", f"edited by {why}", "human-review")]}
    reason = f"rejected by {why}" if action == "reject" else f"unknown review action {action!r} from {who}; treated as reject"
    return {
        "output": None,
        "status": "denied",
        "error": {"type": "ReviewRejected", "message": reason, "hint": "revise the request and run it again", "agent": "governance_post"},
        "policy_decisions": [*decisions, _decision(state, "review", "deny", reason, "human-review")],
    }
