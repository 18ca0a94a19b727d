"""The agent evaluators on hand-made trajectories and routes: they must tell right from wrong."""

from __future__ import annotations

import pytest

from agents.router import RoutingExample
from evals.routing import confusion_table, score_routing, wilson
from evals.trajectories import as_messages, clinical_tools, trajectory_match


def test_trajectory_modes_on_hand_made_trajectories() -> None:
    record_then_check = ["get_patient_record", "check_interactions"]
    assert trajectory_match(record_then_check, record_then_check, "strict")
    assert not trajectory_match(list(reversed(record_then_check)), record_then_check, "strict"), "strict cares about order"
    assert trajectory_match(list(reversed(record_then_check)), record_then_check, "unordered")
    assert trajectory_match(["query_records", "generate_text"], ["query_records"], "superset"), "cohort may add model SQL"
    assert not trajectory_match(["generate_text"], ["query_records"], "superset")
    assert trajectory_match(["query_records"], ["query_records", "check_interactions"], "subset")
    assert not trajectory_match(["update_labels"], ["query_records"], "subset"), "a write the reference lacks fails subset"
    assert trajectory_match([], [], "strict"), "a reply task calls nothing"


def test_governance_tools_are_left_out_of_trajectories() -> None:
    calls = [{"tool": "policy_check"}, {"tool": "get_patient_record"}, {"tool": "check_interactions"}, {"tool": "redact_phi"}]
    assert clinical_tools(calls) == ["get_patient_record", "check_interactions"]
    messages = as_messages(["check_interactions"], "is aspirin ok with warfarin")
    assert messages[1]["tool_calls"][0]["function"]["name"] == "check_interactions"


def _example(i: int, task: str, kind: str = "ordinary", **extra: object) -> RoutingExample:
    return RoutingExample.model_validate({"id": f"x{i}", "text": f"request {i}", "task": task, "split": "test", "kind": kind, **extra})


def test_routing_score_counts_what_it_claims() -> None:
    examples = [
        _example(0, "cohort"),
        _example(1, "cohort"),
        _example(2, "decline", "must_decline"),
        _example(3, "interactions", tools=["check_interactions"]),
        _example(4, "report", "multi", steps=["report", "search"]),
    ]
    routed = {"x0": ("cohort", ["cohort"], []), "x1": ("decline", ["decline"], []), "x2": ("clarify", ["clarify"], []), "x3": ("interactions", ["interactions"], ["check_interactions"]), "x4": ("report", ["report", "search"], [])}
    score = score_routing("hand", lambda e: routed[e.id], examples)
    assert score.accuracy.value == pytest.approx(3 / 5) and score.accuracy.n == 5
    assert score.must_decline_declined.value == 0.0 and score.must_decline_declined.n == 1
    assert score.ordinary_declined.value == pytest.approx(1 / 4), "x1 is an ordinary request that was declined"
    assert score.steps_exact.value == 1.0 and score.tools_match.value == 1.0
    labels = score.labels
    assert score.confusion[labels.index("cohort")][labels.index("decline")] == 1
    assert "| cohort |" in confusion_table(score)
    assert {e["id"] for e in score.errors} == {"x1", "x2"}


def test_wilson_interval_brackets_the_rate() -> None:
    rate = wilson(174, 185)
    assert rate.low < rate.value < rate.high and rate.high - rate.low < 0.1
    assert wilson(0, 0).high == 1.0
