"""Trajectories of real runs scored against reference trajectories with ``agentevals``' match evaluators.

A run's trajectory is the ordered list of clinical tool calls its agents made (governance tools
``policy_check``/``redact_phi`` run on every request and are left out), written as OpenAI-style
assistant messages so ``agentevals.trajectory.match`` can compare them. The match mode fits the
task: ``strict`` where the order is the task's logic (record before interaction check), and
``superset`` where a run may legitimately add a call (cohort: model-written SQL when no template
fits). Arguments are not compared (``tool_args_match_mode="ignore"``): they carry free text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

MatchMode = Literal["strict", "unordered", "subset", "superset"]
GOVERNANCE_TOOLS = frozenset({"policy_check", "redact_phi"})
TASK_MODES: dict[str, MatchMode] = {"interactions": "strict", "search": "strict", "differential": "superset", "cohort": "superset", "answer": "subset", "feedback": "strict", "clarify": "strict", "report": "superset"}


class TrajectoryScore(BaseModel):
    """One run's trajectory against its reference."""

    id: str
    task: str
    mode: MatchMode
    tools: list[str]
    reference: list[str]
    match: bool
    status: str


def as_messages(tools: Sequence[str], request: str = "") -> list[dict[str, Any]]:
    """Tool calls as the OpenAI message list ``agentevals`` reads: user turn, one assistant turn per call."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": request}]
    for i, name in enumerate(tools):
        messages.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"call-{i}", "type": "function", "function": {"name": name, "arguments": json.dumps({})}}]})
    messages.append({"role": "assistant", "content": "done"})
    return messages


def clinical_tools(tool_calls: Sequence[dict[str, Any]]) -> list[str]:
    """Tool names of a run in call order, governance tools left out."""
    return [str(c.get("tool")) for c in tool_calls if c.get("tool") not in GOVERNANCE_TOOLS]


def trajectory_match(tools: Sequence[str], reference: Sequence[str], mode: MatchMode) -> bool:
    """Whether ``tools`` matches ``reference`` under ``mode`` (agentevals' trajectory match evaluator)."""
    from agentevals.trajectory.match import create_trajectory_match_evaluator

    evaluator = create_trajectory_match_evaluator(trajectory_match_mode=mode, tool_args_match_mode="ignore")
    result = evaluator(outputs=as_messages(tools), reference_outputs=as_messages(reference))
    return bool(result["score"])
