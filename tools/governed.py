"""The one way agents (and task steps, via ``TaskContext.call_tool``) call tools.

Every call goes through the same gate, in this order:

1. the tool exists and belongs to the calling agent's tool set (least privilege);
2. the active policy pack allows it for the caller's role (``PolicyEngine.check_tool``);
3. the arguments validate against the tool's pydantic schema;
4. policy access filters (site, consent, sensitivity; SQL table/column scope) are forced into
   the call's injected dependencies, so retrieval never scores what the caller may not see;
5. the call runs inside an ``execute_tool {name}`` span and is written to the audit log
   (allowed, denied or failed; arguments are summarised, never logged verbatim: PHI).

Denials raise :class:`ToolDeniedError`, backend failures :class:`ToolExecutionError`; both are
also kept in :attr:`GovernedInvoker.calls` / :attr:`decisions` so the graph records them.

Outside MCP tools (``mcp:<server>:<tool>``) take the same gate with two differences: only
:data:`OUTSIDE_TOOL_AGENTS` may call them, and the role must grant them **by name**
(:func:`decide_outside`; a ``"*"`` never does). The tool itself comes from the run's
``ToolDeps.outside`` (the services put it there, already wrapped: it decides again, audits its
outcome, times out, limits the size and withholds an answer that looks like injection).

Use cases that are not one tool call (``review``, ``ingest``, a batch job over several tools)
pass the same gate through :func:`authorize`: the same :func:`decide`, one audit event.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError

from core.errors import SageError
from core.telemetry import Attr, get_tracer
from tools.base import Provenance, ToolDeniedError, ToolDeps, ToolError, ToolExecutionError, ToolResult
from tools.governance import decision_fields
from tools.mcp_client import OutsideAnswer, OutsideToolError, is_outside, qualified_name, split_name
from tools.registry import get_tool, tools_for_agent

if TYPE_CHECKING:
    from policies.engine import Caller, PolicyDecision
    from tools.resources import Resources

log = logging.getLogger(__name__)

RETRIEVAL_TOOLS = frozenset({"retrieve_similar_cases", "case_labels"})
# The governance agent's own tools act for governance, not for the caller's data access:
# every role's requests must be checkable and redactable, so the role check does not apply.
GOVERNANCE_TOOLS = frozenset({"policy_check", "redact_phi"})
SQL_TOOLS = frozenset({"query_records", "get_patient_record"})


def sql_scope(policy: Any) -> dict[str, Any]:
    """A role's SQL scope for the query engine: readable tables (with history) and hidden columns."""
    tables = None if "*" in policy.allowed_tables else {n for t in policy.allowed_tables for n in (t, f"{t}_history")}
    return {"allowed_tables": tables, "denied_columns": {t: set(cols) for t, cols in policy.denied_columns.items()}}


class ToolArgumentError(ToolError):
    """The arguments do not match the tool's schema."""


class ActionDeniedError(ToolDeniedError):
    """The policy pack does not grant the caller's role a command-level action (review, import)."""


def safe_error(exc: BaseException) -> str:
    """An error as it may be written to the audit log and traces: its type and a fingerprint.

    Error messages quote their input (a bad finding, a patient name in a failing request), so
    nothing outside the run's own state gets the text; the fingerprint still lets an auditor
    match two entries about the same failure.
    """
    return f"{type(exc).__name__} #{hashlib.sha256(str(exc).encode()).hexdigest()[:12]}"


# Agents that may call outside MCP tools: the data agent gathers evidence, and its evidence is
# screened for injected instructions before any model sees it (agents.governance.screen_retrieved).
OUTSIDE_TOOL_AGENTS = frozenset({"data"})


class OutsideResult(OutsideAnswer, ToolResult):
    """What an outside MCP tool answered, as an agent gets it (untrusted, possibly withheld), with provenance."""


# Administration is never implied by a role's "*": it must be named in the role's allowed_tools.
EXPLICIT_ONLY = frozenset({"keys_manage"})


def decide(resources: Resources, caller: Caller, actions: Sequence[str]) -> PolicyDecision:
    """The policy decision for ``caller`` doing every one of ``actions``: the first denial, else the last allow.

    This is the one place a role is checked against the active pack, for tools (called by the
    governed invoker) and for command-level actions (``ingest``, ``review``, a batch's tools).
    An empty or unknown role or purpose is denied by the engine: identity never defaults.
    """
    if not actions:
        raise ValueError("decide() needs at least one action")
    decision = None
    for action in actions:
        decision = resources.policy.check_tool(caller, action)
        role = resources.policy.pack.roles.get(caller.role)
        if decision.effect != "deny" and action in EXPLICIT_ONLY and role is not None and action not in role.allowed_tools:
            decision = decision.model_copy(update={"effect": "deny", "reason": f"{action!r} must be granted by name; role {caller.role!r} has it only through '*'"})
        if decision.effect == "deny":
            return decision
    assert decision is not None
    return decision


def decide_outside(resources: Resources, caller: Caller, server: str, tool: str) -> PolicyDecision:
    """The pack's decision on ``caller`` using outside tool ``tool`` of ``server``: granted by name only.

    The role's ``allowed_tools`` must list ``mcp:<server>:<tool>`` or ``mcp:<server>:*``: code
    nobody here reviewed is never implied by a role's ``"*"``.
    """
    name = qualified_name(server, tool)
    decision = decide(resources, caller, [name])
    role = resources.policy.pack.roles.get(caller.role)
    named = role is not None and (name in role.allowed_tools or qualified_name(server, "*") in role.allowed_tools)
    if decision.effect != "deny" and not named:
        reason = f"outside tool {name!r} must be granted by name (allowed_tools entry {name!r} or {qualified_name(server, '*')!r}); role {caller.role!r} has no such entry"
        decision = decision.model_copy(update={"effect": "deny", "reason": reason})
    return decision


def authorize(
    resources: Resources,
    caller: Caller,
    actions: str | Sequence[str],
    *,
    resource: str,
    run_id: str | None = None,
    audit_action: str | None = None,
    details: dict[str, Any] | None = None,
    hint: str | None = None,
    audit: bool = True,
) -> PolicyDecision:
    """The governed gate of every use case: decide, audit once, and raise on denial.

    Args:
        resources: The installation (policy engine, audit log).
        caller: ``policies.engine.Caller`` (user, role, purpose).
        actions: What the caller does, checked against the role's ``allowed_tools``: one action
            (``"review"``, ``"ingest"``) or several (a batch's tools, all needed).
        resource: What the action is on (a thread id, a table name, a file's fingerprint); an id,
            never a text.
        run_id: The run the action concerns, if any.
        audit_action: Action name in the audit log (default: the action, or ``batch`` names).
        details: Extra ids and counts for the audit event (never texts: PHI).
        hint: What a denied caller can do instead.
        audit: Audit an allowed decision here; ``False`` when the use case writes its one event
            itself at the end, with what it did (a batch). A denial is always audited here.

    Returns:
        The ``PolicyDecision`` (allowed).

    Raises:
        ActionDeniedError: the pack denies one of the actions (the denial is audited first).
    """
    from policies.audit import AuditEvent

    names = [actions] if isinstance(actions, str) else list(actions)
    decision = decide(resources, caller, names)
    event_details = {"role": caller.role, "purpose": caller.purpose, "rule": decision.rule, **(details or {})}
    if len(names) > 1:
        event_details["actions"] = names
    if audit or decision.effect == "deny":
        resources.audit.append(AuditEvent(actor=caller.user or "(none)", action=audit_action or names[0], resource=resource, decision=decision.effect, run_id=run_id, details=event_details))
    if decision.effect == "deny":
        what = " and ".join(n.replace("_", " ") for n in names)
        raise ActionDeniedError(f"role {caller.role!r} may not {what}: {decision.reason}", hint=hint or "use a role the policy pack allows for this action")
    return decision


class GovernedInvoker:
    """Calls tools for one agent of one run, under policy, tracing and audit.

    Args:
        deps: The caller and infrastructure (settings, run/thread ids) for every call.
        agent: The calling agent; its tool set bounds what may be called.
        check_policy: Ask the policy engine per call (off only for the orchestration benchmark's
            direct baseline, never in the graph).
    """

    def __init__(self, deps: ToolDeps, agent: str, *, check_policy: bool = True) -> None:
        self.deps = replace(deps, agent=agent)
        self.agent = agent
        self.check_policy = check_policy
        self.calls: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []

    def call(self, name: str, args: dict[str, Any], tool_call_id: str | None = None) -> ToolResult:
        """Run tool ``name`` with ``args``; raises ToolDeniedError / ToolArgumentError / ToolExecutionError."""
        call_id = tool_call_id or f"call_{uuid.uuid4().hex[:12]}"
        if is_outside(name):
            return self._call_outside(name, args, call_id)
        definition = get_tool(name)
        with get_tracer().start_as_current_span(f"execute_tool {name}") as span:
            span.set_attribute(Attr.OPERATION, "execute_tool")
            span.set_attribute(Attr.TOOL_NAME, name)
            span.set_attribute(Attr.TOOL_CALL_ID, call_id)
            span.set_attribute(Attr.AGENT_NAME, self.agent)
            for key, value in ((Attr.RUN_ID, self.deps.run_id), (Attr.THREAD_ID, self.deps.thread_id)):
                if value:
                    span.set_attribute(key, value)
            started = time.perf_counter()
            try:
                deps = self._authorize(name, span)
                try:
                    parsed = definition.args_model.model_validate(args)
                except ValidationError as exc:
                    raise ToolArgumentError(f"invalid arguments for tool {name!r}: {exc.errors(include_url=False, include_input=False)}", hint=f"see the schema of {name}") from exc  # never the values: they may be PHI
                # The validated model goes straight to the tool: wrapping it in a LangChain tool per
                # call re-validated the arguments twice and cost ~1.5 ms of a 20 ms search.
                result = definition.run(deps, parsed)
            except ToolDeniedError as exc:
                self._finish(span, name, call_id, started, "denied", exc)
                raise
            except SageError as exc:
                error = exc if isinstance(exc, ToolError) else ToolExecutionError(f"tool {name!r} failed: {exc.message}", hint=exc.hint)
                self._finish(span, name, call_id, started, "failed", error)
                raise error from exc
            except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
                error = ToolExecutionError(f"tool {name!r} failed: {type(exc).__name__}: {exc}", hint="see the trace of this run")
                self._finish(span, name, call_id, started, "failed", error)
                raise error from exc
            self._finish(span, name, call_id, started, "ok", None, result)
            return result  # type: ignore[no-any-return]

    def _call_outside(self, name: str, args: dict[str, Any], call_id: str) -> OutsideResult:
        """An outside MCP tool of the run (``deps.outside``), granted by name; its wrapper audits the outcome."""
        with get_tracer().start_as_current_span(f"execute_tool {name}") as span:
            span.set_attribute(Attr.OPERATION, "execute_tool")
            span.set_attribute(Attr.TOOL_NAME, name)
            span.set_attribute(Attr.TOOL_CALL_ID, call_id)
            span.set_attribute(Attr.AGENT_NAME, self.agent)
            span.set_attribute("sage.tool.outside", True)
            for key, value in ((Attr.RUN_ID, self.deps.run_id), (Attr.THREAD_ID, self.deps.thread_id)):
                if value:
                    span.set_attribute(key, value)
            started = time.perf_counter()
            wrapped = False  # once the wrapper runs, it audits the outcome (allow, deny, failed, flagged)
            try:
                server, tool_name = split_name(name)
                if self.agent not in OUTSIDE_TOOL_AGENTS:
                    self._deny(name, span, f"agent {self.agent!r} may not call outside tools", rule="agent-tools")
                verdict = decision_fields(decide_outside(self.deps.resources, self.deps.policy_caller(), server, tool_name))
                if verdict["effect"] == "deny":
                    self._deny(name, span, verdict["reason"] or f"role {self.deps.role!r} may not call {name!r}", rule=verdict["rule"])
                span.set_attribute(Attr.POLICY_EFFECT, verdict["effect"])
                tool = (self.deps.outside.tools() if self.deps.outside is not None else {}).get(name)
                if tool is None:
                    why = (self.deps.outside.errors() if self.deps.outside is not None else {}).get(server, "no such tool is configured for this run")
                    raise OutsideToolError(f"outside tool {name} is not available: {why}", hint="check the server in the MCP configuration (sagehealth mcp outside)")
                wrapped = True
                answer = tool.invoke(args, config={"metadata": {"sage_run_id": self.deps.run_id, "sage_call_id": call_id}})
            except ToolDeniedError as exc:
                self._finish(span, name, call_id, started, "denied", exc, audit=not wrapped)
                raise
            except SageError as exc:  # OutsideToolError: timeout, oversized answer, dead server, not listed
                error = exc if isinstance(exc, ToolError) else ToolExecutionError(f"tool {name!r} failed: {exc.message}", hint=exc.hint)
                self._finish(span, name, call_id, started, "failed", error, audit=not wrapped)
                raise error from exc
            except (ValueError, TypeError, KeyError) as exc:  # arguments the outside tool's schema refuses (before its wrapper runs)
                error = ToolArgumentError(f"invalid arguments for outside tool {name}: {type(exc).__name__}", hint=f"see the schema of {name}")
                self._finish(span, name, call_id, started, "failed", error, audit=not wrapped)
                raise error from exc
            result = OutsideResult(**OutsideAnswer.model_validate(answer).model_dump(), provenance=Provenance(source=f"mcp:{server}", ids=[name]))
            if result.withheld:
                span.set_attribute("sage.tool.withheld", True)
                self.decisions.append({"stage": "tool", "agent": self.agent, "tool": name, "effect": "redact", "rule": "injection-guard", "run_id": self.deps.run_id,
                                       "reason": f"outside tool {name} answered text that looked like prompt injection; withheld from the agents [paths: {', '.join(result.flagged[:5])}]"})
            self._finish(span, name, call_id, started, "ok", None, result, audit=False)  # the wrapper audited the outcome
            if result.withheld:
                self.calls[-1]["withheld"] = True
            return result

    def _authorize(self, name: str, span: Any) -> ToolDeps:
        """Check the agent's tool set and the role's policy; return deps with forced filters."""
        if name not in tools_for_agent(self.agent):
            self._deny(name, span, f"agent {self.agent!r} may not call {name!r}", rule="agent-tools")
        deps = self.deps
        if not self.check_policy or (self.agent == "governance" and name in GOVERNANCE_TOOLS):
            return deps
        engine = deps.resources.policy
        caller = deps.policy_caller()
        verdict = decision_fields(decide(deps.resources, caller, [name]))
        if verdict["effect"] == "deny":
            self._deny(name, span, verdict["reason"] or f"role {deps.role!r} may not call {name!r}", rule=verdict["rule"])
        if name in RETRIEVAL_TOOLS | SQL_TOOLS:
            from policies.scope import ScopeDeniedError
            from tools.scope import caller_scope

            try:
                caller_scope(deps)  # the data scope the pack grants: the tool reads through it
            except ScopeDeniedError as exc:
                self._deny(name, span, exc.message, rule="scope")
        if name in RETRIEVAL_TOOLS:
            deps = replace(deps, access={k: v for k, v in engine.search_filter_fields(caller).items() if v is not None})
        if name in SQL_TOOLS:
            deps = replace(deps, sql_scope=sql_scope(engine.pack.roles[deps.role]))
        span.set_attribute(Attr.POLICY_EFFECT, verdict["effect"])
        return deps

    def _deny(self, name: str, span: Any, reason: str, rule: str | None) -> None:
        span.set_attribute(Attr.POLICY_EFFECT, "deny")
        self.decisions.append({"stage": "tool", "agent": self.agent, "tool": name, "effect": "deny", "reason": reason, "rule": rule, "run_id": self.deps.run_id})
        raise ToolDeniedError(f"tool {name!r} denied for role {self.deps.role!r} in agent {self.agent!r}: {reason}", hint="use a role or agent that the policy pack allows for this tool")

    def _finish(self, span: Any, name: str, call_id: str, started: float, status: str, error: SageError | None, result: ToolResult | None = None, audit: bool = True) -> None:
        ms = (time.perf_counter() - started) * 1000
        record: dict[str, Any] = {"tool": name, "call_id": call_id, "agent": self.agent, "status": status, "ms": round(ms, 2), "run_id": self.deps.run_id}
        if result is not None:
            record["ids"] = list(result.provenance.ids)
            record["source"] = result.provenance.source
            if result.provenance.feedback_events:  # the corrections that shaped this evidence (issue #19)
                record["feedback_events"] = list(result.provenance.feedback_events)
                span.set_attribute(Attr.FEEDBACK_EVENTS, record["feedback_events"])
            if result.best_similarity is not None:
                record["best_similarity"] = round(result.best_similarity, 4)
        if error is not None:
            record["error"] = safe_error(error)  # the message may quote the arguments (PHI)
            span.set_attribute(Attr.ERROR_TYPE, type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, record["error"]))
        self.calls.append(record)
        if audit:
            self._audit(name, status, record)

    def _audit(self, name: str, status: str, record: dict[str, Any]) -> None:
        from policies.audit import AuditEvent

        details = {"role": self.deps.role, "purpose": self.deps.purpose, "agent": self.agent, "call_id": record["call_id"], "ids": record.get("ids", [])[:50], "ms": record["ms"]}
        if record.get("feedback_events"):
            details["feedback_events"] = record["feedback_events"][:50]
        if "error" in record:
            details["error"] = record["error"][:250]
        event = AuditEvent(actor=self.deps.user, action=f"tool:{name}", resource=name, decision=status, run_id=self.deps.run_id, details=details)
        self.deps.resources.audit.append(event)
