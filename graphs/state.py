"""The one typed state of a clinical run (and of a chat turn), as LangGraph checkpoints it.

Everything in it is JSON-able (plans and decisions are stored as dicts) so that a run read back
from the SQLite checkpointer in another process is exactly what was written. Lists that grow
across nodes use reducers: ``policy_decisions`` and ``tool_calls`` append, ``messages`` uses
``add_messages`` (chat memory per thread). Decisions and tool calls carry their ``run_id``, so
one thread may hold several runs (a retry after a failure) and each stays separable.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

Status = Literal["running", "done", "failed", "review", "denied"]


class Request(TypedDict):
    """What was asked: a known task with its validated input, or free text to route."""

    task: str | None
    input: dict[str, Any]
    text: str


class Caller(TypedDict):
    """Who asked; copied from the per-run Context (never from the model) for the record."""

    user: str
    role: str
    purpose: str


class ClinicalState(TypedDict, total=False):
    """State of one clinical task run.

    Attributes:
        request: The request being served.
        caller: Identity, role and purpose of the caller.
        run_id: Id of this run (spans, audit events and decisions carry it).
        thread_id: Checkpointer thread; several runs may share one.
        plan: Ordered plan steps (``agents.plan.PlanStep`` dumped to dicts).
        step: Index of the next plan step to execute.
        route_reason: Why the planner chose the task (shown by ``sagehealth plan``/``trace``).
        evidence: What the data agent gathered (``ids`` lists the cited records).
        drafts: What the model agent generated (``None`` when the task needs no model).
        output: The composed clinical output (the task's output model, dumped).
        policy_decisions: Every governance decision, appended.
        tool_calls: Every governed tool call (name, agent, status, duration), appended.
        messages: Chat history (chat graph only).
        memory: Facts a chat thread carries between turns, e.g. the patient being discussed
            (chat graph only; the checkpointer keeps it per thread).
        options: Model, adapter and token budget the run was started with; a resumed run
            (after review or a crash) keeps them.
        error: Set when the run failed or was denied: ``{"type", "message", "hint", "agent"}``.
        status: running | done | failed | review | denied.
    """

    request: Request
    caller: Caller
    run_id: str
    thread_id: str
    plan: list[dict[str, Any]]
    step: int
    route_reason: str
    evidence: dict[str, Any]
    drafts: dict[str, Any] | None
    output: dict[str, Any] | None
    policy_decisions: Annotated[list[dict[str, Any]], operator.add]
    tool_calls: Annotated[list[dict[str, Any]], operator.add]
    messages: Annotated[list[AnyMessage], add_messages]
    memory: dict[str, Any]
    options: dict[str, Any]
    error: dict[str, Any] | None
    status: Status
