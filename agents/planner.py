"""Planner agent: turns a request into a validated plan and routes to the next agent.

Known task -> a deterministic plan read off the TaskSpec (its tools split by agent). Free text
-> a task chosen by embedding similarity (or, by setting, a model-proposed plan that is
validated and repaired before use). The planner runs once per request: each agent then hands
over to the next step of the plan (``agents.base.next_node``), so the graph's edges are the
clinical sequence and the trace shows it as a clinician would describe it.
Its span carries the route and the reason (``sage.route``, ``sage.route.reason``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, ValidationError

from agents.base import agent_span, error_record, next_node
from agents.plan import NODE_AGENT, Plan, PlanError, PlanStep, repair_plan
from agents.routing import OutOfScopeError, llm_plan_proposal, route_by_embedding
from agents.tasks.base import TaskInputError, TaskSpec, all_tasks, get_task
from core.errors import SageError
from core.telemetry import Attr
from tools.contract import Context, RunState, caller_context, new_id
from tools.governance import decision_fields
from tools.registry import tools_for_agent
from tools.resources import Resources

log = logging.getLogger(__name__)

@dataclass
class PlanDecision:
    """What the planner decided for a request (``sagehealth plan`` prints this)."""

    plan: Plan
    route: str
    reason: str
    repairs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON view: task, route, tools, reason, steps, repairs."""
        tools = [t for s in self.plan.steps for t in s.tools]
        return {"task": self.plan.task, "route": self.route, "tools": tools, "reason": self.reason, "steps": [s.model_dump() for s in self.plan.steps], "repairs": self.repairs}


def role_allows(resources: Resources, role: str, purpose: str) -> Any:
    """Predicate telling whether ``role`` (with ``purpose``) may use a tool under the active pack."""
    from policies.engine import Caller

    engine, caller = resources.policy, Caller(user="planner", role=role, purpose=purpose)
    return lambda name: decision_fields(engine.check_tool(caller, name))["effect"] != "deny"


def plan_for_task(spec: TaskSpec) -> Plan:
    """The deterministic plan of a known task: governance, data, [model], task, governance.

    Tools are not filtered by role here: the governance pre-check denies the whole request up
    front when the role lacks one of them, instead of failing half-way through.
    """
    needed = set(spec.tools)

    def step(agent: str, extra: tuple[str, ...] = ()) -> PlanStep:
        tools = sorted((needed | set(extra)) & tools_for_agent(NODE_AGENT[agent]))
        return PlanStep(agent=agent, tools=tools, reason=f"{agent} step of task {spec.name!r}")  # type: ignore[arg-type]

    steps = [step("governance_pre", ("policy_check",)), step("data")]
    if spec.generate is not None:
        steps.append(step("model", ("generate_text",)))
    steps += [step("task"), step("governance_post", ("redact_phi",))]
    return Plan(task=spec.name, steps=steps, route_reason=f"task {spec.name!r} requested explicitly")


def plan_request(
    resources: Resources, *, role: str, purpose: str = "treatment", task: str | None = None, text: str = "", routing: str = "embedding", model_name: str | None = None
) -> PlanDecision:
    """Plan a request without executing anything. Raises UnknownTaskError / OutOfScopeError."""
    if task:
        plan = plan_for_task(get_task(task))
        return PlanDecision(plan=plan, route="task", reason=plan.route_reason)
    if routing == "llm":
        allows = role_allows(resources, role, purpose)
        try:
            proposal = llm_plan_proposal(resources, model_name or resources.settings.chat_model, text)
            specs = {s.name: s for s in all_tasks()}
            plan, repairs = repair_plan(proposal, known_tasks=specs, agent_tools=tools_for_agent, role_allows=allows, needs_model=lambda t: specs[t].generate is not None)
            return PlanDecision(plan=plan, route="llm", reason=plan.route_reason or "model-proposed plan", repairs=repairs)
        except (PlanError, ValueError) as exc:
            log.info("LLM plan unusable (%s); falling back to embedding routing", exc)
            fallback = f"LLM plan rejected ({exc}); "
        else:  # pragma: no cover - returns above
            fallback = ""
    else:
        fallback = ""
    route = route_by_embedding(resources, text)
    plan = plan_for_task(get_task(route.task))
    return PlanDecision(plan=plan, route="embedding", reason=fallback + route.reason)


def input_from_text(spec: TaskSpec, text: str) -> dict[str, Any]:
    """Input for a free-text request: the task's ``from_text`` if it has one, else its first text field."""
    from_text = getattr(spec.input_model, "from_text", None)
    if callable(from_text):
        built = from_text(text)
        return built.model_dump(mode="json") if isinstance(built, BaseModel) else dict(built)
    for name, info in spec.input_model.model_fields.items():
        if info.annotation is str:
            return {name: text}
    return {}


def validate_input(spec: TaskSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The task input validated by its model, or a TaskInputError naming the bad fields."""
    try:
        return spec.input_model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(input)'}: {e['msg']}" for e in exc.errors(include_url=False))
        fields = ", ".join(f"{n}{'' if f.is_required() else '?'}" for n, f in spec.input_model.model_fields.items())
        raise TaskInputError(f"invalid input for task {spec.name!r}: {problems}", hint=f"fields of {spec.name}: {fields}") from None


def planner(state: RunState, runtime: Runtime[Context]) -> Command[Literal["governance_pre", "__end__"]]:
    """Graph node: plan the request once, then hand over to the plan's first step (or end: out of scope)."""
    ctx = caller_context(runtime)
    fields = _run_fields(state, ctx) if not state.get("plan") else {}
    state = {**state, **fields}  # type: ignore[typeddict-item]
    with agent_span("planner", state) as span:
        update: dict[str, Any] = {**fields, **_initial_plan(state, ctx)} if not state.get("plan") else {}
        update.setdefault("step", 0)
        goto = next_node(state, update)
        reason = update.get("route_reason") or state.get("route_reason") or f"run {update.get('status', state.get('status'))}"
        span.set_attribute(Attr.ROUTE, goto)
        span.set_attribute(Attr.ROUTE_REASON, reason)
    return Command(update=update, goto=cast(Literal["governance_pre", "__end__"], goto))


def _run_fields(state: RunState, ctx: Context) -> dict[str, Any]:
    """What a bare ``{"request": ...}`` input (``langgraph dev``, the SDK) lacks: run id, thread, caller.

    The entry points build these with :func:`tools.contract.new_run`; a run started by the
    LangGraph server gets them here, so its decisions, spans and audit entries carry a run id.
    """
    from langgraph.config import get_config

    fields: dict[str, Any] = {}
    if not state.get("run_id"):
        fields["run_id"] = new_id("run")
    if not state.get("thread_id") and (thread := (get_config().get("configurable") or {}).get("thread_id")):
        fields["thread_id"] = str(thread)
    if not state.get("caller"):
        fields["caller"] = {"user": ctx.user, "role": ctx.role, "purpose": ctx.purpose}
    return fields


def _initial_plan(state: RunState, ctx: Context) -> dict[str, Any]:
    request = state["request"]
    try:
        decision = plan_request(ctx.res, role=ctx.role, purpose=ctx.purpose, task=request.get("task"), text=request.get("text", ""), routing=ctx.routing, model_name=ctx.model_name)
        spec = get_task(decision.plan.task)
        data = request.get("input") or input_from_text(spec, request.get("text", ""))
        validated = validate_input(spec, data)
    except (OutOfScopeError, SageError) as exc:
        decision_record = {"stage": "plan", "effect": "deny", "reason": exc.message, "rule": "routing", "run_id": state.get("run_id")}
        return {"status": "denied" if isinstance(exc, OutOfScopeError) else "failed", "error": error_record(exc, "planner"), "policy_decisions": [decision_record]}
    return {
        "plan": [s.model_dump() for s in decision.plan.steps],
        "step": 0,
        "route_reason": decision.reason + (f" [repairs: {'; '.join(decision.repairs)}]" if decision.repairs else ""),
        "request": {"task": spec.name, "input": validated, "text": request.get("text", "")},
    }
