"""Clinical task runs as services: start a run, plan a request, retry a crashed run, read a run.

A run is authorised by the graph's own governance gate (``governance_pre``, which checks every
tool of the plan through ``tools.governed.decide``), so the same checks apply however the graph
is reached (these services, ``langgraph dev``). The service checks the caller first, opens the
``invoke_workflow clinical`` span and writes one audit event with the run's outcome.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agents.planner import plan_request, validate_input
from agents.tasks.base import get_task
from core.telemetry import Attr
from graphs.runner import RunResult, load_result, resume_run, run_options, snapshot_of, start_run
from services.base import Caller, ServiceRequest, context_for, governed, require_caller, workflow
from tools.contract import new_run
from tools.resources import Resources

# A caller acting on their own run needs no extra right, only a valid identity: ``policy_check``
# (asking what the pack allows) is granted to every role, so the gate checks role and purpose.
OWN_RUN = "policy_check"


class RunRequest(ServiceRequest):
    """Run one clinical task by name."""

    task: str = Field(min_length=1, max_length=64, description="Task name: report, differential, cohort, interactions, ...")
    input: dict[str, Any] = Field(description="The task's input (validated by the task's input model).")
    thread_id: str | None = Field(None, max_length=128, description="Thread to run on (retry a failed run on its thread).")
    text: str = Field("", max_length=20000, description="The free-text request the input came from, if any.")
    model: str | None = Field(None, max_length=128, description="Zoo chat model (default: settings).")
    adapter: str | None = Field(None, max_length=128, description="LoRA adapter (default: settings).")
    max_new_tokens: int | None = Field(None, ge=1, le=1024, description="Generation budget override.")


class PlanRequest(ServiceRequest):
    """Plan a free-text request without running it."""

    text: str = Field(min_length=1, max_length=20000)
    routing: str = Field("embedding", pattern="^(embedding|llm)$")


def _audit_run(resources: Resources, caller: Caller, result: RunResult, action: str) -> None:
    from policies.audit import AuditEvent

    details = {"role": caller.role, "purpose": caller.purpose, "status": result.status, "task": result.task, "evidence": result.evidence_ids[:50]}
    resources.audit.append(AuditEvent(actor=caller.user, action=action, resource=result.thread_id, decision=result.status, run_id=result.run_id, details=details))


def run_task(resources: Resources, caller: Caller, request: RunRequest) -> RunResult:
    """Run one clinical task end to end (or until it pauses for review).

    Re-running on the ``thread_id`` of a failed run retries it: the run starts over on the same
    thread with a new run id (tool side effects are idempotent), earlier runs stay in its history.

    Raises:
        UnknownTaskError, TaskInputError, CallerError: before any agent runs.
    """
    require_caller(caller, resources)
    spec = get_task(request.task)
    validated = validate_input(spec, request.input)
    context = context_for(resources, caller, model=request.model, adapter=request.adapter, max_new_tokens=request.max_new_tokens)
    state = new_run(context, task=spec.name, input=validated, text=request.text, thread_id=request.thread_id)
    with workflow(resources, caller, "clinical", service="run_task") as span:
        for key, value in ((Attr.RUN_ID, state["run_id"]), (Attr.THREAD_ID, state["thread_id"]), (Attr.TASK, spec.name)):
            span.set_attribute(key, value)
        result = start_run(resources, context, state)
        span.set_attribute("sage.status", result.status)
    _audit_run(resources, caller, result, f"run:{spec.name}")
    return result


def resume(resources: Resources, caller: Caller, thread_id: str) -> RunResult:
    """Continue a run that a crash interrupted, as ``caller``.

    The run's own caller may always retry it; anyone else needs the ``review`` right (they
    see what the run produces). Either way the resumed steps run, and are audited, as ``caller``.
    """
    require_caller(caller, resources)
    values = snapshot_of(resources, thread_id).values
    # The run's own caller retries with the run's own rights (its tools are gated again inside);
    # anyone else sees what the run produces, so needs the review right.
    action = OWN_RUN if (values.get("caller") or {}).get("user") == caller.user else "review"
    with governed(resources, caller, "clinical", action, service="resume", resource=thread_id, run_id=values.get("run_id"), audit_action="resume",
                  hint="only the run's own caller, or a reviewer, may resume it") as (span, _):
        context = context_for(resources, caller, **run_options(resources, thread_id))
        span.set_attribute(Attr.RUN_ID, str(values.get("run_id")))
        span.set_attribute(Attr.THREAD_ID, thread_id)
        result = resume_run(resources, context, thread_id)
    _audit_run(resources, caller, result, "resume")
    return result


def get_run(resources: Resources, caller: Caller, thread_id: str) -> RunResult:
    """The latest run on a thread: its own caller may read it; anyone else needs the ``review`` right."""
    require_caller(caller, resources)
    result = load_result(resources, thread_id)
    action = OWN_RUN if result.caller.get("user") == caller.user else "review"  # others need the review right
    with governed(resources, caller, "get_run", action, resource=thread_id, run_id=result.run_id, audit_action="run:show"):
        return result


def plan(resources: Resources, caller: Caller, request: PlanRequest) -> dict[str, Any]:
    """What the planner would do with a free-text request (nothing runs, nothing is read).

    ``embedding`` (default): the installation's trained router (rules, classifier, multi-intent
    split) and one plan per routed step; ``llm``: a model-proposed plan, validated and repaired.
    Returns ``{"task", "route", "reason", "confidence", "steps", "plans", "repairs"}``.
    """
    from agents.routed_plan import plan_routed
    from agents.router import router_for

    with governed(resources, caller, "plan", OWN_RUN, resource="plan", audit_action="plan"):
        if request.routing == "llm":
            legacy = plan_request(resources, role=caller.role, purpose=str(caller.purpose), text=request.text, routing="llm")
            return {**legacy.as_dict(), "confidence": None, "plans": [legacy.as_dict()]}
        routed = plan_routed(router_for(resources), request.text)
        decision = routed.decision
        plans = [{"task": p.task, "steps": [s.model_dump() for s in p.steps], "tools": [t for s in p.steps for t in s.tools], "reason": p.route_reason} for p in routed.plans]
        return {"task": decision.task, "route": decision.method, "reason": decision.reason, "confidence": round(decision.confidence, 3),
                "steps": plans[0]["steps"], "tools": decision.tools, "plans": plans, "routed_steps": [s.model_dump() for s in decision.steps], "repairs": []}


def trace(resources: Resources, caller: Caller, run_id: str) -> list[dict[str, Any]]:
    """The spans of one run (JSON-lines exporter), for ``sagehealth trace`` and the API."""
    from graphs.telemetry import run_spans

    with governed(resources, caller, "trace", "read_trace", resource=run_id, run_id=run_id, audit_action="trace"):
        return run_spans(resources.settings.traces_path, run_id)
