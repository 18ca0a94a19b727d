"""The clinical task graph: a planner routing to governance, data, model and task agents.

::

    START -> planner -> governance_pre -> planner -> data -> planner -> model -> planner
          -> task -> planner -> governance_post -> planner -> END

Every agent returns to the planner, which routes to the next step of the validated plan (or
ends the run when the plan is done, a step failed, or a gate denied it). ``langgraph.json``
points at :data:`graph` (compiled without a checkpointer: the LangGraph server brings its own);
:func:`build_graph` compiles with ours (``graphs.checkpoint``) for the CLI and API.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.data import data_agent
from agents.governance import governance_post, governance_pre
from agents.model import model_agent
from agents.planner import planner
from agents.task import task_agent
from graphs.context import Context
from graphs.state import ClinicalState

WORKERS = ("governance_pre", "data", "model", "task", "governance_post")

builder = StateGraph(ClinicalState, context_schema=Context)
builder.add_node("planner", planner)  # routes with Command[...] to a worker or END
builder.add_node("governance_pre", governance_pre)
builder.add_node("data", data_agent)
builder.add_node("model", model_agent)
builder.add_node("task", task_agent)
builder.add_node("governance_post", governance_post)
builder.add_edge(START, "planner")
for worker in WORKERS:
    builder.add_edge(worker, "planner")

graph = builder.compile(name="clinical")


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """The clinical graph compiled with a checkpointer (runs are resumable per thread)."""
    return builder.compile(checkpointer=checkpointer, name="clinical")
