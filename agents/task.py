"""Task agent: composes the typed clinical output (``spec.compose``) from evidence and drafts."""

from __future__ import annotations

from typing import Any, Literal, cast

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.base import run_agent
from agents.workers import task_and_input
from tools.contract import Context, RunState, caller_context


def task_agent(state: RunState, runtime: Runtime[Context]) -> Command[Literal["governance_post", "__end__"]]:
    """Graph node: build the output model and store it as JSON."""

    def body(ctx: Any, span: Any) -> dict[str, Any]:
        spec, task_input = task_and_input(state)
        output = spec.compose(ctx, task_input, cast(dict[str, Any], state.get("evidence") or {}), state.get("drafts"))
        return {"output": spec.output_model.model_validate(output).model_dump(mode="json")}

    return run_agent("task", "task", state, caller_context(runtime), body)
