"""Run, resume and inspect clinical task runs (what the CLI, API and MCP server call).

Bad requests fail here, before any agent runs: an unknown task, input that does not match the
task's model, a caller without a user or role. A run is wrapped in one ``invoke_workflow
clinical`` span; its state is checkpointed per thread after every step (see :data:`DURABILITY`),
so a crashed run resumes on its thread and a run paused for review resumes with the reviewer's
decision (``Command(resume=...)``).
"""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.types import Command
from pydantic import BaseModel, Field

from agents.planner import validate_input
from agents.tasks.base import get_task
from core.errors import SageError
from core.settings import Settings
from core.telemetry import Attr, get_tracer
from graphs.checkpoint import open_checkpointer
from graphs.clinical import build_graph
from graphs.context import Context
from graphs.review import authorize_review, reviewer_caller

RECURSION_LIMIT = 40  # 5 workers + 6 planner visits per run; anything near 40 is a routing bug
# "async": each step's checkpoint is written while the next step runs (measured ~2x cheaper per
# node than "sync" with SQLite, benchmarks/orchestration.py). A crash can lose at most the last
# step's checkpoint, whose node then re-runs on resume: nodes are idempotent, so that is safe.
DURABILITY = "async"


class CallerError(SageError):
    """The run has no authenticated caller (user and role are required)."""


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


def _context(settings: Settings, user: str, role: str, purpose: str, **options: Any) -> Context:
    if not user or not role:
        raise CallerError("a run needs a caller: user and role must be non-empty", hint="pass --user NAME --role ROLE (or set SAGE_DEFAULT_USER / SAGE_DEFAULT_ROLE)")
    return Context(user=user, role=role, purpose=purpose, settings=settings, **{k: v for k, v in options.items() if v is not None})


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}


def run_task(
    settings: Settings,
    task: str,
    input: dict[str, Any],
    user: str,
    role: str,
    purpose: str = "treatment",
    thread_id: str | None = None,
    *,
    text: str = "",
    model: str | None = None,
    adapter: str | None = None,
    max_new_tokens: int | None = None,
) -> RunResult:
    """Run one clinical task end to end (or until it pauses for review).

    Re-running on the ``thread_id`` of a failed run retries it: the run starts over on the same
    thread with a new run id (tool side effects are idempotent), earlier runs stay in its history.

    Raises:
        UnknownTaskError, TaskInputError, CallerError: before any agent runs.
    """
    spec = get_task(task)
    validated = validate_input(spec, input)
    options = {"model": model, "adapter": adapter, "max_new_tokens": max_new_tokens}
    context = _context(settings, user, role, purpose, **options)
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    thread_id = thread_id or f"thread-{uuid.uuid4().hex[:12]}"
    state = {
        "request": {"task": spec.name, "input": validated, "text": text},
        "caller": {"user": user, "role": role, "purpose": purpose},
        "options": options,
        "run_id": run_id,
        "thread_id": thread_id,
        "plan": [],
        "step": 0,
        "route_reason": "",
        "evidence": {},
        "drafts": None,
        "output": None,
        "error": None,
        "status": "running",
    }
    return _invoke(settings, context, state, thread_id, run_id, spec.name)


def resume_run(settings: Settings, thread_id: str, decision: dict[str, Any] | None = None) -> RunResult:
    """Continue the run on ``thread_id``: after a review (``decision``) or after a crash (``None``).

    Args:
        settings: Installation settings.
        thread_id: Thread of the paused or interrupted run.
        decision: Reviewer's answer ``{"action": "approve"|"edit"|"reject", "reviewer": ..., "role": ...,
            "purpose": ..., "note": ..., "output": {...}}`` when the run waits for review; ``None`` to
            resume after a crash.

    Raises:
        tools.governed.ActionDeniedError: the reviewer's role may not review (audited; the run
            stays paused).
    """
    with open_checkpointer(settings) as saver:
        _, snapshot = _owner(saver, thread_id)
    values = snapshot.values or {}
    if not values:
        raise RunNotFoundError(f"no run on thread {thread_id!r}", hint="list paused runs with `sagehealth review list`")
    caller = values["caller"]
    context = _context(settings, caller["user"], caller["role"], caller["purpose"], **(values.get("options") or {}))
    if snapshot.interrupts and decision is None:
        raise SageError(f"run {values['run_id']} on thread {thread_id!r} waits for review", hint="sagehealth review approve|edit|reject THREAD")
    if snapshot.interrupts and decision is not None:  # the reviewer's role must be allowed to decide; the run stays paused if not
        authorize_review(settings, reviewer_caller(decision), str(decision.get("action"))[:32], thread_id, values["run_id"])
    payload: Any = Command(resume=decision) if snapshot.interrupts else None
    if payload is None and not snapshot.next:
        return load_result(settings, thread_id)
    return _invoke(settings, context, payload, thread_id, values["run_id"], values["request"]["task"])


def _owner(saver: Any, thread_id: str) -> tuple[Any, Any]:
    """The graph that owns a thread and its current snapshot (read once from that graph).

    A chat turn that governance paused for review waits inside the chat graph's ``answer`` node
    (the clinical graph runs there as a subgraph); resuming it with the clinical graph would
    run the wrong nodes, so review and crash recovery pick the graph by the thread's state.
    """
    clinical = build_graph(saver)
    snapshot = clinical.get_state(_config(thread_id))
    # Message channels read back as [] on clinical threads too: a chat thread has at least the human turn.
    if not (snapshot.values or {}).get("messages"):
        return clinical, snapshot
    from graphs.chat import builder as chat_builder

    chat = chat_builder.compile(checkpointer=saver, name="chat")
    return chat, chat.get_state(_config(thread_id))


def _invoke(settings: Settings, context: Context, payload: Any, thread_id: str, run_id: str, task: str | None) -> RunResult:
    with open_checkpointer(settings) as saver, get_tracer().start_as_current_span("invoke_workflow") as span:
        graph, _ = _owner(saver, thread_id)
        span.update_name(f"invoke_workflow {graph.name}")
        span.set_attribute(Attr.OPERATION, "invoke_workflow")
        for key, value in ((Attr.RUN_ID, run_id), (Attr.THREAD_ID, thread_id), (Attr.TASK, task or ""), (Attr.USER, context.user), (Attr.ROLE, context.role)):
            span.set_attribute(key, value)
        graph.invoke(payload, _config(thread_id), context=context, durability=DURABILITY)
        result = _result(graph.get_state(_config(thread_id)), thread_id)
        span.set_attribute("sage.status", result.status)
        return result


def load_result(settings: Settings, thread_id: str) -> RunResult:
    """The latest run on a thread, read from the checkpoint."""
    with open_checkpointer(settings) as saver:
        return _result(_owner(saver, thread_id)[1], thread_id)


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
    )


def paused_runs(settings: Settings) -> list[RunResult]:
    """Runs whose thread holds a pending interrupt (waiting for human review), newest first."""
    with open_checkpointer(settings) as saver:
        threads = dict.fromkeys(item.config["configurable"]["thread_id"] for item in saver.list(None))
        results = [_result(_owner(saver, t)[1], t) for t in threads]
    return [r for r in results if r.status == "review"]
