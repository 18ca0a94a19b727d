"""What every agent node shares: the run context it reads, its span, and governed tool access.

Nodes are typed ``(RunState, Runtime[Context])`` with the run contract of ``tools.contract``.
:func:`run_agent` wraps a node body: it opens the ``invoke_agent {name}`` span, gives
the body a :class:`GovernedTaskContext` limited to the agent's tools, records every tool call
and policy decision in the state, and turns an expected failure into a recorded ``failed`` or
``denied`` state instead of an exception (the checkpoint then holds the error for a retry).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from langgraph.graph import END
from langgraph.types import Command
from opentelemetry.trace import Span, Status, StatusCode

from core.errors import SageError
from core.telemetry import Attr, get_tracer
from tools.base import ToolDeniedError, ToolDeps, ToolResult
from tools.contract import Context, ErrorRecord, RunState
from tools.governed import OUTSIDE_TOOL_AGENTS, GovernedInvoker

# Test hook for crash-recovery tests: "model:30" makes the model node sleep 30 s.
SLEEP_ENV = "SAGE_TEST_SLEEP_NODE"


class GovernedTaskContext:
    """``agents.tasks.base.TaskContext`` for one agent of one run: tools go through the gate."""

    def __init__(self, invoker: GovernedInvoker) -> None:
        self.invoker = invoker
        self.user = invoker.deps.user
        self.role = invoker.deps.role
        self.purpose = invoker.deps.purpose
        self.settings = invoker.deps.settings
        self.resources = invoker.deps.resources

    @property
    def scope(self) -> Any:
        """The caller's data scope (``policies.scope.DataScope``): what the data tools read through."""
        from tools.scope import caller_scope

        return caller_scope(self.invoker.deps)

    def call_tool(self, name: str, args: dict[str, Any]) -> ToolResult:
        """Run tool ``name`` under policy, tracing and audit (see ``tools.governed``)."""
        return self.invoker.call(name, args)

    def outside_tools(self) -> dict[str, dict[str, Any]]:
        """Outside MCP tools this agent may call in this run: qualified name -> description and argument schema.

        Empty unless the agent may call outside tools (``tools.governed.OUTSIDE_TOOL_AGENTS``) and
        the caller's role grants some by name; listing starts the configured servers once per run.
        """
        source = self.invoker.deps.outside
        if source is None or self.invoker.agent not in OUTSIDE_TOOL_AGENTS:
            return {}
        return {name: {"description": tool.description, "schema": tool.get_input_schema().model_json_schema() if not isinstance(tool.args_schema, dict) else tool.args_schema}
                for name, tool in source.tools().items()}


def tool_deps(ctx: Context, state: Mapping[str, Any]) -> ToolDeps:
    """Injected tool dependencies: caller from the context, ids from the state."""
    return ToolDeps(
        settings=ctx.settings,
        resources=ctx.res,
        user=ctx.user,
        role=ctx.role,
        purpose=ctx.purpose,
        run_id=state.get("run_id"),
        thread_id=state.get("thread_id"),
        model=ctx.model_name,
        adapter=ctx.adapter_name,
        max_new_tokens=ctx.max_new_tokens,
        outside=ctx.outside,
    )


@contextmanager
def agent_span(name: str, state: Mapping[str, Any]) -> Iterator[Span]:
    """``invoke_agent {name}`` span; GraphInterrupt (human review) is not an error."""
    with get_tracer().start_as_current_span(f"invoke_agent {name}", record_exception=False, set_status_on_exception=False) as span:
        span.set_attribute(Attr.OPERATION, "invoke_agent")
        span.set_attribute(Attr.AGENT_NAME, name)
        for key, field in ((Attr.RUN_ID, "run_id"), (Attr.THREAD_ID, "thread_id")):
            if state.get(field):
                span.set_attribute(key, state[field])
        if state.get("request", {}).get("task"):
            span.set_attribute(Attr.TASK, state["request"]["task"])
        yield span


def _test_sleep(node: str) -> None:
    hook = os.environ.get(SLEEP_ENV, "")
    if hook.partition(":")[0] == node:
        time.sleep(float(hook.partition(":")[2] or 30))


def error_record(exc: SageError, agent: str) -> ErrorRecord:
    """The JSON-able error kept in state and shown by the CLI."""
    return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint, "agent": agent}


def next_node(state: RunState, update: dict[str, Any]) -> str:
    """Where the run goes after a step: the next plan step's agent, or END (marking a finished run done).

    The planner decides once; each agent then hands over to the next step of the plan, so the
    graph's edges are the clinical sequence itself. A failed, denied or paused run ends here.
    """
    status = update.get("status", state.get("status", "running"))
    plan = update.get("plan", state.get("plan") or [])
    step = int(update.get("step", state.get("step", 0)))
    if status != "running":
        return END
    if step >= len(plan):
        update["status"] = "done"
        return END
    return str(plan[step]["agent"])


def run_agent(
    node: str,
    agent: str,
    state: RunState,
    ctx: Context,
    body: Callable[[GovernedTaskContext, Span], dict[str, Any]],
) -> Command[Any]:
    """Run one agent step under its span, then route to the next plan step (or END).

    Args:
        node: Graph node name (span name, plan step).
        agent: Agent identity whose tool set applies (``governance`` for both gates).
        state: Current state.
        ctx: Per-run context.
        body: The agent's work; returns its part of the state update (``goto`` overrides the plan's
            next step).
    """
    invoker = GovernedInvoker(tool_deps(ctx, state), agent)
    with agent_span(node, state) as span:
        _test_sleep(node)
        try:
            update = body(GovernedTaskContext(invoker), span)
        except ToolDeniedError as exc:
            update = {"status": "denied", "error": error_record(exc, node)}
        except SageError as exc:
            # The message may quote the request (PHI): the span gets the error's type only.
            span.set_attribute(Attr.ERROR_TYPE, type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            update = {"status": "failed", "error": error_record(exc, node)}
        update.setdefault("step", int(state.get("step", 0)) + 1)
        goto = update.pop("goto", None) or next_node(state, update)  # a body may send the run back (review refused)
        span.set_attribute("sage.status", update.get("status", "running"))
        span.set_attribute(Attr.ROUTE, goto)
    update["tool_calls"] = [*invoker.calls, *update.get("tool_calls", [])]
    update["policy_decisions"] = [*invoker.decisions, *update.get("policy_decisions", [])]
    return Command(update=update, goto=goto)
