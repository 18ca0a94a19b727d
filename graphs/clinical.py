"""The clinical task graph: the planner decides once, then each agent hands over to the next.

::

    START -> planner -> governance_pre -> data -> [model] -> task -> governance_post -> END

(``model`` only when the task generates; any step ends the run early when it fails or is
denied, and ``governance_post`` pauses it for human review.)

Node names are :data:`tools.contract.NodeName`; every node routes with ``Command[Literal[...]]``
to the next step of the validated plan (``agents.base.next_node``), so the drawn graph, the
trace tree and ``langgraph dev`` show the real clinical sequence. ``governance_post`` may loop
on itself: a review answered by a caller without the right is discarded and the run waits
again. ``langgraph.json`` points at :data:`graph` (compiled without a checkpointer: the
LangGraph server brings its own); :func:`build_graph` compiles with ours for the services.
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
from tools.contract import Context, RunState

builder = StateGraph(RunState, context_schema=Context)
builder.add_node("planner", planner)
builder.add_node("governance_pre", governance_pre)
builder.add_node("data", data_agent)
builder.add_node("model", model_agent)
builder.add_node("task", task_agent)
builder.add_node("governance_post", governance_post)
builder.add_edge(START, "planner")

graph = builder.compile(name="clinical")


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph[RunState, Context, RunState, RunState]:
    """The clinical graph compiled with a checkpointer (runs are resumable per thread)."""
    return builder.compile(checkpointer=checkpointer, name="clinical")
