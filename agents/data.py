"""Data agent: gathers the evidence a task needs (similar cases, records, SQL) via ``spec.retrieve``.

It may call only data tools (retrieval, record/SQL queries, the labeler; it never writes labels); the
evidence it returns lists the ids of everything it cites, which the post-check verifies.
Retrieved and tool texts are screened for injected instructions before any model sees them
(``agents.governance.screen_retrieved``).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.base import run_agent
from agents.governance import screen_retrieved
from agents.workers import jsonable, task_and_input
from core.telemetry import Attr
from tools.contract import Context, RunState, caller_context


def data_agent(state: RunState, runtime: Runtime[Context]) -> Command[Literal["model", "task", "__end__"]]:
    """Graph node: run the task's retrieve step, then hand over to the model agent (or the task agent)."""

    def body(ctx: Any, span: Any) -> dict[str, Any]:
        spec, task_input = task_and_input(state)
        update = screen_retrieved(state, jsonable(spec.retrieve(ctx, task_input)))
        scores = [c["best_similarity"] for c in ctx.invoker.calls if "best_similarity" in c]
        update["evidence"]["best_similarity"] = max(scores) if scores else None  # read by the review rule
        span.set_attribute("sage.evidence.count", len(update["evidence"].get("ids", [])))
        span.set_attribute(Attr.TASK, spec.name)
        return update

    return run_agent("data", "data", state, caller_context(runtime), body)
