"""Data agent: gathers the evidence a task needs (similar cases, records, SQL) via ``spec.retrieve``.

It may call only data tools (retrieval, record/SQL queries, the labeler, label updates); the
evidence it returns lists the ids of everything it cites, which the post-check verifies.
Retrieved and tool texts are screened for injected instructions before any model sees them
(``agents.governance.screen_retrieved``).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.base import RunContext, run_agent
from agents.governance import screen_retrieved
from agents.workers import jsonable, task_and_input
from core.telemetry import Attr


def data_agent(state: dict[str, Any], runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Graph node: run the task's retrieve step."""

    def body(ctx: Any, span: Any) -> dict[str, Any]:
        spec, task_input = task_and_input(state)
        update = screen_retrieved(state, jsonable(spec.retrieve(ctx, task_input)))
        span.set_attribute("sage.evidence.count", len(update["evidence"].get("ids", [])))
        span.set_attribute(Attr.TASK, spec.name)
        return update

    return run_agent("data", "data", state, runtime.context, body)
