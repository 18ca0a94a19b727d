"""Chat agents: route each turn to a clinical task, or decline it with a reason.

A chat turn is a free-text request: the planner's embedding router picks the task (or finds
none: out of scope), the injection heuristics screen it, and the task's input is built from the
text. The answer node (``graphs.chat``) runs the clinical graph and replies; declined turns get
a reply saying why, so the conversation never silently drops a message.
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel

from agents.base import agent_span
from agents.guards import injection_hits
from agents.planner import input_from_text, plan_request, validate_input
from agents.tasks.base import get_task
from core.errors import SageError
from core.telemetry import Attr
from tools.contract import Context, RunState, caller_context, new_id

ANSWER_KEYS = ("answer", "impression", "summary", "text", "draft")


def last_user_text(state: RunState) -> str:
    """The newest human message of the thread."""
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


def chat_router(state: RunState, runtime: Runtime[Context]) -> Command[Literal["answer", "decline"]]:
    """Graph node: decide which task serves this turn, or decline it.

    The turn's input is only ``{"messages": [...]}`` (the LangGraph standard, e.g. from
    ``langgraph dev``): the caller comes from the run's context, the thread from its config,
    and each turn gets a new run id.
    """
    from langgraph.config import get_config

    ctx = caller_context(runtime)
    text = last_user_text(state)
    thread_id = str(get_config().get("configurable", {}).get("thread_id") or state.get("thread_id") or new_id("thread"))
    turn: dict[str, Any] = {
        "caller": {"user": ctx.user, "role": ctx.role, "purpose": ctx.purpose},
        "thread_id": thread_id,
        "run_id": new_id("run"),
        "request": {"task": None, "input": {}, "text": text},
        "options": ctx.options,
        "evidence": {},
        "output": None,
    }
    state = {**state, **turn}  # type: ignore[typeddict-item]
    if ctx.routing == "embedding":  # the default: the trained router (rules, classifier, thread context)
        return _routed(state, ctx, text, turn)
    with agent_span("planner", state) as span:
        try:
            if hits := injection_hits(text):
                raise SageError("the message looks like an attempt to override my instructions", hint=f"matched in {hits}")
            decision = plan_request(ctx.res, role=ctx.role, purpose=ctx.purpose, text=text)
            spec = get_task(decision.plan.task)
            task_input, memory = remember(spec.input_model, input_from_text(spec, text), state.get("memory") or {})
            task_input = validate_input(spec, task_input)
        except SageError as exc:
            span.set_attribute(Attr.ROUTE, "decline")
            span.set_attribute(Attr.ROUTE_REASON, exc.message)
            return Command(update={**turn, "status": "denied", "error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint, "agent": "planner"}}, goto="decline")
        span.set_attribute(Attr.ROUTE, spec.name)
        span.set_attribute(Attr.ROUTE_REASON, decision.reason)
    update = {**turn, "request": {"task": spec.name, "input": task_input, "text": text}, "route_reason": decision.reason, "status": "running", "error": None, "memory": memory}
    return Command(update=update, goto="answer")


def _routed(state: RunState, ctx: Context, text: str, turn: dict[str, Any]) -> Command[Literal["answer", "decline"]]:
    """Route with the installation's :class:`agents.router.Router`: every turn gets a task, declines included."""
    from agents.chat_routing import routed_requests
    from agents.router import router_for

    with agent_span("planner", state) as span:
        try:
            decision, requests, memory = routed_requests(router_for(ctx.res), text, state.get("memory") or {})
        except SageError as exc:
            span.set_attribute(Attr.ROUTE, "decline")
            span.set_attribute(Attr.ROUTE_REASON, exc.message)
            return Command(update={**turn, "status": "denied", "error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint, "agent": "planner"}}, goto="decline")
        span.set_attribute(Attr.ROUTE, " -> ".join(r["task"] for r in requests))
        span.set_attribute(Attr.ROUTE_REASON, decision.reason)
    if decision.task == "decline":  # nothing of a declined turn runs, not even its harmless parts
        reason = requests[0]["input"]["reason"]
        error = {"type": "Declined", "message": reason, "hint": None, "agent": "planner"}
        return Command(update={**turn, "status": "denied", "error": error, "route_reason": decision.reason, "memory": memory}, goto="decline")
    first = {**requests[0], "then": requests[1:]}
    return Command(update={**turn, "request": first, "route_reason": decision.reason, "status": "running", "error": None, "memory": memory}, goto="answer")


def remember(input_model: type[BaseModel], task_input: dict[str, Any], memory: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fill what a follow-up turn leaves out from the thread's memory, and update the memory.

    A patient named earlier in the thread stays the subject ("check clarithromycin for patient
    X" then "and aspirin?") until another one is named. Only fields the task's input model has
    are filled, so a cohort question never inherits a patient.
    """
    memory = dict(memory)
    if "patient_id" in input_model.model_fields:
        if task_input.get("patient_id"):
            memory["patient_id"] = task_input["patient_id"]
        elif memory.get("patient_id"):
            task_input = {**task_input, "patient_id": memory["patient_id"]}
    return task_input, memory


def decline(state: RunState) -> dict[str, Any]:
    """Graph node: reply with the reason the turn cannot be served."""
    error = cast(dict[str, Any], state.get("error") or {})
    text = f"I can't help with that: {error.get('message', 'out of scope')}."
    if error.get("hint"):
        text += f" ({error['hint']})"
    memory = dict(state.get("memory") or {})
    record = {"task": "decline", "status": "denied", "route_reason": str(state.get("route_reason") or "")[:300], "error": {"message": str(error.get("message", ""))[:300]}, "evidence_ids": [], "tools": []}
    memory["runs"] = [*memory.get("runs", []), record][-10:]
    return {"messages": [AIMessage(content=text)], "memory": memory}


def answer_text(task: str, result: dict[str, Any]) -> str:
    """A readable reply from a clinical run's outcome (output, evidence, status)."""
    if result.get("status") != "done":
        error = result.get("error") or {}
        if result.get("status") == "review":
            return f"The {task} draft needs a clinician's review before I can share it (sagehealth review list)."
        return f"I could not complete the {task} task: {error.get('message', result.get('status'))}."
    output = result.get("output") or {}
    body = next((str(output[k]) for k in ANSWER_KEYS if output.get(k)), json.dumps(output, default=str)[:1500])
    ids = (result.get("evidence") or {}).get("ids", [])
    return body + (f"\n\nEvidence: {', '.join(map(str, ids[:10]))}" if ids else "")
