"""The run contract: the typed state of a run, its per-run context, and the records it keeps.

It sits below the agents (``agents``, ``graphs`` and ``services`` all import it), so there is
one definition of what a run holds and of who runs it:

- :class:`RunState` is what LangGraph checkpoints. Everything in it is JSON-able, so a run read
  back from the SQLite checkpointer in another process is exactly what was written. Lists that
  grow across nodes use reducers (decisions and tool calls append, ``messages`` uses
  ``add_messages``); decisions and tool calls carry their ``run_id``, so one thread can hold
  several runs (a retry, a chat thread) and each stays separable.
- :class:`Context` is the per-run, read-only configuration (LangGraph ``context_schema``): the
  caller's identity, role and purpose come from it and never from the model or the request
  body, so a prompt cannot make a run act for another user. It is not checkpointed: a resumed
  run gets the context of whoever resumes it.
- :func:`new_run` builds the starting state; :func:`run_config` the invocation config.

Tool results stay pydantic models inside the steps that call them; they become these plain
records only when written to state.
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from core.settings import Settings
from tools.mcp_client import OutsideToolSource
from tools.resources import Resources

Status = Literal["running", "done", "failed", "review", "denied"]
NodeName = Literal["planner", "governance_pre", "data", "model", "task", "governance_post"]
WorkerName = Literal["governance_pre", "data", "model", "task", "governance_post"]
Effect = Literal["allow", "deny", "redact", "review"]
RECURSION_LIMIT = 20  # 6 nodes per clinical run; a run near 20 steps is a routing bug
# "async": each step's checkpoint is written while the next step runs (measured ~2x cheaper per
# node than "sync" with SQLite, benchmarks/orchestration.py). A crash can lose at most the last
# step's checkpoint, whose node then re-runs on resume: nodes are idempotent, so that is safe.
DURABILITY = "async"


class Request(TypedDict):
    """What was asked: a known task with its validated input, or free text to route."""

    task: str | None
    input: dict[str, Any]
    text: str


class CallerRecord(TypedDict):
    """Who started the run; copied from the Context (never from the model) for the record."""

    user: str
    role: str
    purpose: str


class PolicyDecisionRecord(TypedDict, total=False):
    """One governance decision (a gate, a tool check, a review), as kept in state and shown."""

    stage: str  # plan | pre | tool | post | review
    agent: str
    tool: str
    effect: Effect
    reason: str
    rule: str | None
    run_id: str | None
    actor: str  # who decided, for human reviews


class ToolCallRecord(TypedDict, total=False):
    """One governed tool call: who called what, how it ended, and the ids it returned."""

    tool: str
    call_id: str
    agent: str
    status: Literal["ok", "denied", "failed"]
    ms: float
    run_id: str | None
    ids: list[str]
    source: str
    best_similarity: float  # retrieval tools: the strongest similarity they returned
    error: str  # the error's type and message, PHI-free (see tools.governed)
    withheld: bool  # outside tools: the answer looked like injected instructions and was not passed on


class ErrorRecord(TypedDict):
    """Why a run failed or was denied."""

    type: str
    message: str
    hint: str | None
    agent: str


class Evidence(TypedDict, total=False):
    """What the data agent gathered: cited ids, the best similarity, and the task's evidence model.

    ``ids`` lists every record the output may cite (the post-check verifies citations against
    it); ``best_similarity`` is the strongest retrieval score (the review rule reads it) or
    ``None`` when the task retrieved nothing by similarity; ``data`` is the task's evidence
    model dumped to JSON (its ``evidence_model`` reads it back).
    """

    ids: list[str]
    best_similarity: float | None
    data: dict[str, Any]


class RunOptions(TypedDict, total=False):
    """Model, adapter and token budget the run was started with; a resumed run keeps them."""

    model: str | None
    adapter: str | None
    max_new_tokens: int | None


class RunState(TypedDict, total=False):
    """State of one clinical task run (and of a chat turn: ``messages`` and ``memory``).

    Attributes:
        request: The request being served.
        caller: Who started the run.
        run_id: Id of this run (spans, audit events and decisions carry it).
        thread_id: Checkpointer thread; several runs may share one.
        plan: Ordered plan steps (``agents.plan.PlanStep`` dumped to dicts).
        step: Index of the plan step that runs next.
        route_reason: Why the planner chose the task (shown by ``sagehealth plan``/``trace``).
        evidence: What the data agent gathered.
        drafts: What the model agent generated (``None`` when the task needs no model).
        output: The composed clinical output (the task's output model, dumped).
        policy_decisions: Every governance decision, appended.
        tool_calls: Every governed tool call, appended.
        messages: Chat history (chat graph only).
        memory: Facts a chat thread carries between turns, e.g. the patient being discussed.
        options: Model, adapter and token budget of the run.
        error: Set when the run failed or was denied.
        status: running | done | failed | review | denied.
    """

    request: Request
    caller: CallerRecord
    run_id: str
    thread_id: str
    plan: list[dict[str, Any]]
    step: int
    route_reason: str
    evidence: Evidence
    drafts: dict[str, Any] | None
    output: dict[str, Any] | None
    policy_decisions: Annotated[list[PolicyDecisionRecord], operator.add]
    tool_calls: Annotated[list[ToolCallRecord], operator.add]
    messages: Annotated[list[AnyMessage], add_messages]
    memory: dict[str, Any]
    options: RunOptions
    error: ErrorRecord | None
    status: Status


@dataclass(kw_only=True, frozen=True)
class Context:
    """Who runs the graph, why, with which model, and over which installation."""

    user: str = field(default="", metadata={"description": "Authenticated caller name (audited on every tool call); empty is denied."})
    role: str = field(default="", metadata={"description": "Caller role; the active policy pack decides what it may do; empty is denied."})
    purpose: str = field(default="", metadata={"description": "Purpose of use (treatment, research, operations...); policy-checked; empty is denied."})
    settings: Settings = field(default_factory=Settings, metadata={"description": "Paths, endpoints and defaults of this installation."})
    model: str | None = field(default=None, metadata={"description": "Zoo name of the chat model; None uses settings.chat_model."})
    adapter: str | None = field(default=None, metadata={"description": "LoRA adapter for report drafting; None uses settings.adapter."})
    routing: Literal["embedding", "llm"] = field(default="embedding", metadata={"description": "How the planner routes free text: embedding similarity or the chat model."})
    max_new_tokens: int | None = field(default=None, metadata={"description": "Overrides the task's generation budget when set (sagehealth run --max-new-tokens)."})
    resources: Resources | None = field(default=None, compare=False, metadata={"description": "Backends; None uses the process's object for `settings`."})
    outside: OutsideToolSource | None = field(default=None, compare=False, metadata={"description": "Outside MCP tools the caller is granted by name (set by the services; None: none)."})

    @property
    def res(self) -> Resources:
        """The installation's backends (zoo, stores, policy engine, audit log, ...)."""
        return self.resources if self.resources is not None else Resources.for_settings(self.settings)

    @property
    def model_name(self) -> str:
        """The chat model this run uses."""
        return self.model or self.settings.chat_model

    @property
    def adapter_name(self) -> str | None:
        """The adapter this run uses, if any."""
        return self.adapter if self.adapter is not None else self.settings.adapter

    @property
    def options(self) -> RunOptions:
        """The model options to keep in state (a resumed run reuses them)."""
        return {"model": self.model, "adapter": self.adapter, "max_new_tokens": self.max_new_tokens}


AUTH_USER = "langgraph_auth_user"  # where the LangGraph server puts the user its auth handler returned


def _auth_field(user: Any, name: str) -> str:
    value = getattr(user, name, None)
    if value is None and hasattr(user, "get"):
        value = user.get(name)
    return str(value or "")


def caller_context(runtime: Runtime[Context]) -> Context:
    """The run's context, with the identity the platform authenticated when there is one.

    Served by ``langgraph dev``/LangGraph server with the project's auth handler
    (``app/langgraph_auth.py``), the caller comes from the API key, never from the request's
    ``context`` body: user, role and purpose are taken from the authenticated user (missing
    ones become empty, which every gate denies). Called any other way, the context is the one
    the entry point built.
    """
    context = runtime.context if runtime.context is not None else Context()
    try:
        from langgraph.config import get_config

        user = (get_config().get("configurable") or {}).get(AUTH_USER)
    except RuntimeError:  # outside a runnable context (direct calls in benchmarks and tests)
        user = None
    if user is None:
        return context
    return replace(context, user=_auth_field(user, "identity"), role=_auth_field(user, "role"), purpose=_auth_field(user, "purpose"))


def new_id(prefix: str) -> str:
    """A short random id, e.g. ``run-1a2b3c4d5e6f``."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_run(context: Context, *, task: str | None, input: dict[str, Any] | None = None, text: str = "", thread_id: str | None = None) -> RunState:
    """The starting state of a run: the one place a run's state is built.

    Args:
        context: Who runs it (recorded as the run's caller) and with which model options.
        task: A known task name, or ``None`` for free text the planner routes.
        input: The task input (already validated), or ``{}`` for free text.
        text: The free-text request ("" for a task invoked by name).
        thread_id: The checkpointer thread; a new one when omitted.
    """
    return {
        "request": {"task": task, "input": dict(input or {}), "text": text},
        "caller": {"user": context.user, "role": context.role, "purpose": context.purpose},
        "options": context.options,
        "run_id": new_id("run"),
        "thread_id": thread_id or new_id("thread"),
        "plan": [],
        "step": 0,
        "route_reason": "",
        "evidence": {},
        "drafts": None,
        "output": None,
        "error": None,
        "status": "running",
    }


def run_config(thread_id: str) -> RunnableConfig:
    """The LangGraph config of a run on ``thread_id`` (the one place the recursion limit is set)."""
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}
