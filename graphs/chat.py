"""Multi-turn chat per thread: each turn is routed to a clinical task and answered.

::

    START -> router -> answer -> END      (the clinical graph runs as a subgraph)
                    +-> decline -> END   (out of scope or unsafe: reply says why)

Input is the LangGraph standard ``{"messages": [...]}``; the caller comes from the run's
context. Memory is the thread's ``messages`` in the checkpointer; the answer is streamed as it
is written (``stream_mode="custom"`` chunks) and traced under ``invoke_workflow chat``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agents.chat import answer_text, chat_router, decline
from agents.chat_routing import remember_runs, run_record
from graphs.checkpoint import open_checkpointer
from graphs.clinical import graph as clinical_graph
from tools.contract import Context, RunState, caller_context, new_run, run_config
from tools.resources import Resources


def answer(state: RunState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Graph node: run the routed task through the clinical graph, then reply (streamed)."""
    # A multi-intent turn carries its further steps in request["then"]; they run in order, in this run.
    context = caller_context(runtime)
    requests = [{k: v for k, v in state["request"].items() if k != "then"}, *cast(list[dict[str, Any]], state["request"].get("then", []))]
    texts, results = [], []
    for request in requests:
        task_state = new_run(context, task=request["task"], input=request["input"], text=request["text"], thread_id=state["thread_id"])
        task_state.update({"run_id": state["run_id"], "route_reason": state.get("route_reason", "")})
        results.append(clinical_graph.invoke(task_state, context=context))
        texts.append(answer_text(str(request["task"]), results[-1]))
    text = "\n\n".join(texts)
    writer = get_stream_writer()
    for word in text.split(" "):
        writer({"delta": word + " "})
    result = results[0]
    ids = list(dict.fromkeys(i for r in results for i in (r.get("evidence") or {}).get("ids", [])))
    memory = remember_runs(state.get("memory") or {}, [run_record(q, r, state.get("route_reason", "")) for q, r in zip(requests, results, strict=True)])
    return {
        "messages": [AIMessage(content=text)], "output": result.get("output"), "evidence": {**(result.get("evidence") or {}), "ids": ids}, "status": result.get("status", "done"),
        "policy_decisions": [d for r in results for d in r.get("policy_decisions", [])], "tool_calls": [c for r in results for c in r.get("tool_calls", [])],
        "plan": result.get("plan", []), "memory": memory,
    }


builder = StateGraph(RunState, context_schema=Context)
builder.add_node("router", chat_router)
builder.add_node("answer", answer)
builder.add_node("decline", decline)
builder.add_edge(START, "router")
builder.add_edge("answer", END)
builder.add_edge("decline", END)
graph = builder.compile(name="chat")


class ChatReply(BaseModel):
    """One chat turn's reply."""

    thread_id: str
    run_id: str | None = None
    task: str | None = None
    status: str
    text: str
    evidence_ids: list[str] = Field(default_factory=list)
    turns: int = Field(description="Messages in the thread after this turn (memory).")


def chat_turn(resources: Resources, context: Context, thread_id: str, message: str, on_delta: Callable[[str], None] | None = None) -> ChatReply:
    """Send one message on a thread as ``context``'s caller; the reply is streamed to ``on_delta`` and returned.

    The input is the LangGraph standard ``{"messages": [...]}``, the same as ``langgraph dev``
    sends; authorisation, audit and the workflow span belong to the caller (``services.chat``).
    """
    config = run_config(thread_id)
    with open_checkpointer(resources) as saver:
        chat = builder.compile(checkpointer=saver, name="chat")
        for mode, chunk in chat.stream({"messages": [HumanMessage(content=message)]}, config, context=context, stream_mode=["custom"], durability="sync"):
            if mode == "custom" and on_delta is not None and isinstance(chunk, dict):
                on_delta(str(chunk.get("delta", "")))
        snapshot = chat.get_state(config)
    values = snapshot.values
    messages = values.get("messages", [])
    if snapshot.interrupts:
        values = {**values, "status": "review"}
        last = AIMessage(content=answer_text(str((values.get("request") or {}).get("task")), {"status": "review"}))
    else:
        last = messages[-1] if messages else AIMessage(content="")
    return ChatReply(
        thread_id=thread_id,
        run_id=values.get("run_id") or None,
        task=(values.get("request") or {}).get("task"),
        status=values.get("status", "done"),
        text=str(last.content),
        evidence_ids=[str(i) for i in (values.get("evidence") or {}).get("ids", [])],
        turns=len(messages),
    )
