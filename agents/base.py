"""What every agent node shares: the run context it reads, its span, and governed tool access.

Agents sit below ``graphs`` in the layering, so they see the per-run context through the
:class:`RunContext` protocol (``graphs.context.Context`` satisfies it) and the state as a plain
mapping. :func:`run_agent` wraps a node body: it opens the ``invoke_agent {name}`` span, gives
the body a :class:`GovernedTaskContext` limited to the agent's tools, records every tool call
and policy decision in the state, and turns an expected failure into a recorded ``failed`` or
``denied`` state instead of an exception (the checkpoint then holds the error for a retry).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from opentelemetry.trace import Span, Status, StatusCode

from core.errors import SageError
from core.settings import Settings
from core.telemetry import Attr, get_tracer
from tools.base import ToolDeniedError, ToolDeps, ToolResult
from tools.governed import GovernedInvoker

# Test hook for crash-recovery tests: "model:30" makes the model node sleep 30 s.
SLEEP_ENV = "SAGE_TEST_SLEEP_NODE"


class RunContext(Protocol):
    """The per-run, read-only context an agent reads (see ``graphs.context.Context``)."""

    user: str
    role: str
    purpose: str
    settings: Settings
    routing: str
    max_new_tokens: int | None

    @property
    def model_name(self) -> str: ...  # noqa: D102

    @property
    def adapter_name(self) -> str | None: ...  # noqa: D102


class GovernedTaskContext:
    """``agents.tasks.base.TaskContext`` for one agent of one run: tools go through the gate."""

    def __init__(self, invoker: GovernedInvoker) -> None:
        self.invoker = invoker
        self.user = invoker.deps.user
        self.role = invoker.deps.role
        self.purpose = invoker.deps.purpose
        self.settings = invoker.deps.settings

    def call_tool(self, name: str, args: dict[str, Any]) -> ToolResult:
        """Run tool ``name`` under policy, tracing and audit (see ``tools.governed``)."""
        return self.invoker.call(name, args)


def tool_deps(ctx: RunContext, state: Mapping[str, Any]) -> ToolDeps:
    """Injected tool dependencies: caller from the context, ids from the state."""
    return ToolDeps(
        settings=ctx.settings,
        user=ctx.user,
        role=ctx.role,
        purpose=ctx.purpose,
        run_id=state.get("run_id"),
        thread_id=state.get("thread_id"),
        model=ctx.model_name,
        adapter=ctx.adapter_name,
        max_new_tokens=ctx.max_new_tokens,
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


def error_record(exc: SageError, agent: str) -> dict[str, Any]:
    """The JSON-able error kept in state and shown by the CLI."""
    return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint, "agent": agent}


def run_agent(
    node: str,
    agent: str,
    state: Mapping[str, Any],
    ctx: RunContext,
    body: Callable[[GovernedTaskContext, Span], dict[str, Any]],
) -> dict[str, Any]:
    """Run one agent step under its span; return the state update (always advancing the step).

    Args:
        node: Graph node name (span name, plan step).
        agent: Agent identity whose tool set applies (``governance`` for both gates).
        state: Current state.
        ctx: Per-run context.
        body: The agent's work; returns its part of the state update.
    """
    invoker = GovernedInvoker(tool_deps(ctx, state), agent)
    with agent_span(node, state) as span:
        _test_sleep(node)
        try:
            update = body(GovernedTaskContext(invoker), span)
        except ToolDeniedError as exc:
            update = {"status": "denied", "error": error_record(exc, node)}
        except SageError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, exc.message))
            update = {"status": "failed", "error": error_record(exc, node)}
        span.set_attribute("sage.status", update.get("status", "running"))
    update.setdefault("step", int(state.get("step", 0)) + 1)
    update["tool_calls"] = [*invoker.calls, *update.get("tool_calls", [])]
    update["policy_decisions"] = [*invoker.decisions, *update.get("policy_decisions", [])]
    return update
