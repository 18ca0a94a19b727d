"""The planner's output: a validated, ordered list of steps, and how a bad plan is repaired.

A plan from a model is untrusted input. :func:`repair_plan` keeps only known agents, only the
tools each agent may call (and the caller's role may use), puts the steps in the one safe order
(governance first and last, data before model before task), and always keeps both governance
steps. A plan that still has nothing to execute is rejected with a reason; it never runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from core.errors import SageError

AgentNode = Literal["governance_pre", "data", "model", "task", "governance_post"]
ORDER: tuple[str, ...] = ("governance_pre", "data", "model", "task", "governance_post")
# Plan node -> the agent identity whose tool set it has.
NODE_AGENT: dict[str, str] = {"governance_pre": "governance", "data": "data", "model": "model", "task": "task", "governance_post": "governance"}


class PlanError(SageError):
    """The planner could not produce a plan it is willing to execute."""


class PlanStep(BaseModel):
    """One step: which agent runs, with which tools, and why."""

    agent: AgentNode
    tools: list[str] = Field(default_factory=list, description="Tools the agent will call in this step.")
    reason: str = Field("", max_length=500)


class Plan(BaseModel):
    """A task and its steps, in execution order."""

    task: str
    steps: list[PlanStep] = Field(min_length=1)
    route_reason: str = ""


def repair_plan(
    raw: Any,
    *,
    known_tasks: Iterable[str],
    agent_tools: Callable[[str], frozenset[str]],
    role_allows: Callable[[str], bool],
    needs_model: Callable[[str], bool],
) -> tuple[Plan, list[str]]:
    """Validate an untrusted plan (dict or JSON-like), repairing what is safe to repair.

    Returns:
        The plan to execute and the list of repairs made (empty for a clean plan).

    Raises:
        PlanError: unknown task, unparseable plan, or nothing left to execute.
    """
    repairs: list[str] = []
    if not isinstance(raw, dict) or raw.get("task") not in set(known_tasks):
        raise PlanError(f"plan names no known task: {str(raw)[:200]!r}", hint="the planner falls back to embedding routing")
    steps = raw.get("steps")
    steps_in: list[Any] = steps if isinstance(steps, list) else []
    kept: dict[str, PlanStep] = {}
    for item in steps_in:
        try:
            step = PlanStep.model_validate(item)
        except ValidationError:
            repairs.append(f"dropped invalid step {str(item)[:80]!r}")
            continue
        if step.agent in kept:
            repairs.append(f"dropped duplicate step {step.agent}")
            continue
        if step.agent == "model" and not needs_model(raw["task"]):
            repairs.append("dropped model step: the task needs no model")
            continue
        allowed = agent_tools(NODE_AGENT[step.agent])
        tools = [t for t in step.tools if t in allowed and role_allows(t)]
        if len(tools) != len(step.tools):
            repairs.append(f"removed tools {sorted(set(step.tools) - set(tools))} from {step.agent}: not allowed for this agent or role")
        kept[step.agent] = PlanStep(agent=step.agent, tools=tools, reason=step.reason)
    if not any(a in kept for a in ("data", "model", "task")):
        raise PlanError(f"plan for {raw['task']!r} has no executable step", hint="a plan needs a data, model or task step")
    given_order = list(kept)
    if given_order != [a for a in ORDER if a in kept]:
        repairs.append("reordered steps into governance -> data -> model -> task -> governance")
    for gate in ("governance_pre", "governance_post"):
        if gate not in kept:
            repairs.append(f"added missing {gate} step")
            kept[gate] = PlanStep(agent=gate, tools=[], reason="governance runs on every request")  # type: ignore[arg-type]
    ordered = [kept[a] for a in ORDER if a in kept]
    return Plan(task=raw["task"], steps=ordered, route_reason=str(raw.get("reason", ""))), repairs
