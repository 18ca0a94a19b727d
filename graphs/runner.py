"""Run, resume and inspect clinical task runs on the checkpointer (the services call these).

A run's state is checkpointed per thread after every step (``tools.contract.DURABILITY``), so
a crashed run resumes on its thread and a run paused for review resumes with the reviewer's
decision (``Command(resume=...)``). Whoever resumes a run runs it: the resumed steps execute
under the resumer's :class:`~tools.contract.Context`, so they are authorised and audited as
that caller, and the graph's own review gate checks the reviewer (``agents.governance``).
Authorisation, audit and the workflow span belong to the caller of these functions
(``services``); this module only drives the graph.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Command
from pydantic import BaseModel, Field

from core.errors import SageError
from graphs.checkpoint import open_checkpointer
from graphs.clinical import build_graph
from tools.contract import DURABILITY, Context, RunState, run_config
from tools.resources import Resources


class RunNotFoundError(SageError):
    """No checkpointed run on that thread."""


class RunResult(BaseModel):
    """The outcome of one run, as printed by ``sagehealth run`` and returned by the API."""

    run_id: str
    thread_id: str
    task: str | None = None
    status: str
    plan: list[dict[str, Any]] = Field(default_factory=list)
    route_reason: str = ""
    evidence_ids: list[str] = Field(default_factory=list)
    policy_decisions: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    output: dict[str, Any] | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    review: dict[str, Any] | None = Field(None, description="Why the run waits for a human, when status is 'review'.")
    caller: dict[str, Any] = Field(default_factory=dict, description="Who started the run (user, role, purpose).")
    feedback: dict[str, Any] | None = Field(None, description="The label correction a reviewer's edit of a report draft made (services.reviews), if any.")


def start_run(resources: Resources, context: Context, state: RunState) -> RunResult:
    """Run a new state (built by ``tools.contract.new_run``) until it ends or pauses for review."""
    return _invoke(resources, context, state, state["thread_id"])


def resume_run(resources: Resources, context: Context, thread_id: str, decision: dict[str, Any] | None = None) -> RunResult:
    """Continue the run on ``thread_id`` as ``context``'s caller: after a review or after a crash.

    Args:
        resources: The installation.
        context: The resumer (the reviewer, or whoever retries a crashed run), with the run's
            model options (see :func:`run_options`).
        thread_id: Thread of the paused or interrupted run.
        decision: The reviewer's answer ``{"action": "approve"|"edit"|"reject", "note": ...,
            "output": {...}}`` when the run waits for review; ``None`` to resume after a crash.
    """
    snapshot = snapshot_of(resources, thread_id)
    values = snapshot.values or {}
    if snapshot.interrupts and decision is None:
        raise SageError(f"run {values['run_id']} on thread {thread_id!r} waits for review", hint="sagehealth review approve|edit|reject THREAD")
    if not snapshot.interrupts and decision is not None:
        raise SageError(f"run {values['run_id']} on thread {thread_id!r} is not waiting for review", hint="sagehealth review list")
    payload: Any = Command(resume=decision) if snapshot.interrupts else None
    if payload is None and not snapshot.next:
        return _result(snapshot, thread_id)
    return _invoke(resources, context, payload, thread_id)


def run_options(resources: Resources, thread_id: str) -> dict[str, Any]:
    """The model options a run was started with (a resumed run keeps them)."""
    return dict((snapshot_of(resources, thread_id).values or {}).get("options") or {})


def snapshot_of(resources: Resources, thread_id: str) -> Any:
    """The current checkpoint snapshot of a thread; RunNotFoundError when there is none."""
    with open_checkpointer(resources) as saver:
        _, snapshot = _owner(saver, thread_id)
    if not snapshot.values:
        raise RunNotFoundError(f"no run on thread {thread_id!r}", hint="list paused runs with `sagehealth review list`")
    return snapshot


def _owner(saver: Any, thread_id: str) -> tuple[Any, Any]:
    """The graph that owns a thread and its current snapshot (read once from that graph).

    A chat turn that governance paused for review waits inside the chat graph's ``answer`` node
    (the clinical graph runs there as a subgraph); resuming it with the clinical graph would
    run the wrong nodes, so review and crash recovery pick the graph by the thread's state.
    """
    clinical = build_graph(saver)
    snapshot = clinical.get_state(run_config(thread_id))
    # Message channels read back as [] on clinical threads too: a chat thread has at least the human turn.
    if not (snapshot.values or {}).get("messages"):
        return clinical, snapshot
    from graphs.chat import builder as chat_builder

    chat = chat_builder.compile(checkpointer=saver, name="chat")
    return chat, chat.get_state(run_config(thread_id))


def _invoke(resources: Resources, context: Context, payload: Any, thread_id: str) -> RunResult:
    with open_checkpointer(resources) as saver:
        graph, _ = _owner(saver, thread_id)
        graph.invoke(payload, run_config(thread_id), context=context, durability=DURABILITY)
        return _result(graph.get_state(run_config(thread_id)), thread_id)


def load_result(resources: Resources, thread_id: str) -> RunResult:
    """The latest run on a thread, read from the checkpoint."""
    return _result(snapshot_of(resources, thread_id), thread_id)


def _result(snapshot: Any, thread_id: str) -> RunResult:
    values = snapshot.values or {}
    if not values:
        raise RunNotFoundError(f"no run on thread {thread_id!r}", hint="check the thread id")
    run_id = values.get("run_id", "")
    status = values.get("status", "running")
    review = None
    if snapshot.interrupts:
        status, review = "review", dict(snapshot.interrupts[0].value)
    elif snapshot.next:
        status = "running"  # interrupted mid-run (crash): resume_run continues it
    evidence = values.get("evidence") or {}
    return RunResult(
        run_id=run_id,
        thread_id=thread_id,
        task=(values.get("request") or {}).get("task"),
        status=status,
        plan=values.get("plan") or [],
        route_reason=values.get("route_reason", ""),
        evidence_ids=[str(i) for i in evidence.get("ids", [])],
        evidence=evidence,
        policy_decisions=[d for d in values.get("policy_decisions", []) if d.get("run_id") == run_id],
        tool_calls=[c for c in values.get("tool_calls", []) if c.get("run_id") == run_id],
        output=values.get("output"),
        error=values.get("error"),
        review=review,
        caller=dict(values.get("caller") or {}),
    )


def paused_runs(resources: Resources) -> list[RunResult]:
    """Runs whose thread holds a pending interrupt (waiting for human review), newest first."""
    with open_checkpointer(resources) as saver:
        threads = dict.fromkeys(item.config["configurable"]["thread_id"] for item in saver.list(None))
        results = [_result(_owner(saver, t)[1], t) for t in threads]
    return [r for r in results if r.status == "review"]
