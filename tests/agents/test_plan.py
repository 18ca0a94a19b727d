"""Planner: deterministic plans per task, routing of free text, and repair of untrusted plans."""

from __future__ import annotations

import pytest

from agents.plan import PlanError, repair_plan
from agents.planner import plan_for_task
from agents.routing import NOT_EMBEDDING_ROUTED, OutOfScopeError, route_by_embedding
from agents.tasks.base import all_tasks, get_task
from core.settings import Settings
from tools.registry import tools_for_agent
from tools.resources import Resources

TASKS = {"report": True, "differential": False, "cohort": True, "interactions": False}


def _repair(raw: object, denied: frozenset[str] = frozenset()):
    return repair_plan(raw, known_tasks=TASKS, agent_tools=tools_for_agent, role_allows=lambda t: t not in denied, needs_model=lambda t: TASKS[t])


@pytest.mark.parametrize("spec", all_tasks(), ids=lambda s: s.name)
def test_deterministic_plan_covers_the_task_tools(spec) -> None:
    plan = plan_for_task(spec)
    agents = [s.agent for s in plan.steps]
    assert agents[0] == "governance_pre" and agents[-1] == "governance_post"
    assert ("model" in agents) == (spec.generate is not None)
    planned = {t for s in plan.steps for t in s.tools}
    assert set(spec.tools) <= planned, "every tool the task calls is planned for an agent allowed to call it"


@pytest.mark.parametrize("spec", [s for s in all_tasks() if s.name not in NOT_EMBEDDING_ROUTED], ids=lambda s: s.name)
def test_examples_route_to_their_task(spec, tmp_path) -> None:
    resources = Resources(Settings(home=tmp_path))
    for example in spec.examples or (spec.description,):
        route = route_by_embedding(resources, example)
        assert route.task == spec.name, (example, route.scores)
        assert spec.name in route.reason


def test_out_of_scope_text_is_declined(tmp_path) -> None:
    with pytest.raises(OutOfScopeError, match="matches no clinical task"):
        route_by_embedding(Resources(Settings(home=tmp_path)), "What is the best pizza topping in Naples?")


def test_invalid_plan_is_repaired_not_executed_blindly() -> None:
    raw = {
        "task": "report",
        "steps": [
            {"agent": "task", "tools": ["label_findings", "get_patient_record"]},  # get_patient_record is not a task-agent tool
            {"agent": "data", "tools": ["retrieve_similar_cases", "update_labels"]},  # update_labels: denied to the role (and no tool since #19)
            {"agent": "hacker", "tools": ["rm"]},  # unknown agent
            {"agent": "model", "tools": ["generate_text"]},
        ],
    }
    plan, repairs = _repair(raw, denied=frozenset({"update_labels"}))
    assert [s.agent for s in plan.steps] == ["governance_pre", "data", "model", "task", "governance_post"]
    assert plan.steps[1].tools == ["retrieve_similar_cases"] and plan.steps[3].tools == ["label_findings"]
    assert any("reordered" in r for r in repairs) and any("hacker" in r for r in repairs)
    assert any("added missing governance_pre" in r for r in repairs)


def test_plans_that_cannot_be_repaired_are_rejected() -> None:
    with pytest.raises(PlanError, match="no known task"):
        _repair({"task": "launch_missiles", "steps": [{"agent": "data"}]})
    with pytest.raises(PlanError, match="no executable step"):
        _repair({"task": "interactions", "steps": [{"agent": "model", "tools": ["generate_text"]}]})
    with pytest.raises(PlanError):
        _repair("not a plan")


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(Exception, match="known tasks"):
        get_task("nope")
