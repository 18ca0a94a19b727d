"""What ``sagehealth plan`` shows for a routed request: the decision, then one plan per step.

A plan is read off the task spec (``agents.planner.plan_for_task``), then trimmed to what the
request will really do: a cohort question a query template answers never calls the model, so
its plan has no ``model``/``generate_text`` step (only a question no template covers keeps it).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from agents.intent import RoutingDecision
from agents.plan import Plan
from agents.planner import plan_for_task
from agents.router import Router
from agents.tasks.base import get_task


class RoutedPlan(BaseModel):
    """The routing decision and the plan of each of its steps, in order."""

    decision: RoutingDecision
    plans: list[Plan]


def plan_step(task: str, text: str) -> Plan:
    """The plan of one routed step, without a model step the request will not take."""
    plan = plan_for_task(get_task(task))
    if task == "cohort" and _template_answers(text):
        steps = [s.model_copy(update={"tools": [t for t in s.tools if t != "generate_text"]}) for s in plan.steps if s.agent != "model"]
        plan = plan.model_copy(update={"steps": steps, "route_reason": plan.route_reason + "; a query template answers it (no model step)"})
    return plan


def _template_answers(question: str) -> bool:
    from lakehouse.cohort import CohortPlanError, plan_cohort_query

    try:
        plan_cohort_query(question)
    except CohortPlanError:
        return False
    return True


def plan_routed(router: Router, text: str, history: Sequence[str] = ()) -> RoutedPlan:
    """Route ``text`` and plan every step (nothing runs). Raises ``RequestTextError`` for bad text."""
    decision = router.route(text, history)
    steps = decision.steps if decision.task != "decline" else [decision.steps[0].model_copy(update={"task": "decline", "tools": []})]
    return RoutedPlan(decision=decision, plans=[plan_step(s.task, s.text) for s in steps])
