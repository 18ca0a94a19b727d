"""Model agent: runs ``spec.generate`` with the model and adapter chosen by the run's Context.

The model name and adapter come from the Context (or settings defaults), never from the
request, and are recorded on the agent span; tasks without a generate step skip this agent.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.base import run_agent
from agents.workers import jsonable, task_and_input
from core.telemetry import Attr
from tools.contract import Context, RunState, caller_context


def model_agent(state: RunState, runtime: Runtime[Context]) -> Command[Literal["task", "__end__"]]:
    """Graph node: run the task's generate step (``None`` drafts when the task has none)."""
    context = caller_context(runtime)

    def body(ctx: Any, span: Any) -> dict[str, Any]:
        spec, task_input = task_and_input(state)
        span.set_attribute(Attr.REQUEST_MODEL, context.model_name)
        if context.adapter_name:
            span.set_attribute(Attr.ADAPTER, context.adapter_name)
        if spec.generate is None:
            return {"drafts": None}
        return {"drafts": jsonable(spec.generate(ctx, task_input, cast(dict[str, Any], state.get("evidence") or {})))}

    return run_agent("model", "model", state, context, body)
