"""Multi-turn chat per thread: each turn is routed to a clinical task and answered.

::

    START -> router -> answer -> END      (the clinical graph runs as a subgraph)
                    +-> decline -> END   (out of scope or unsafe: reply says why)

Memory is the thread's ``messages`` in the checkpointer; the answer is streamed as it is
written (``stream_mode="custom"`` chunks) and traced under ``invoke_workflow chat``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agents.chat import answer_text, chat_router, decline
from agents.chat_routing import remember_runs, run_record
from core.settings import Settings
from core.telemetry import Attr, get_tracer
from graphs.checkpoint import open_checkpointer
from graphs.clinical import graph as clinical_graph
from graphs.context import Context
from graphs.state import ClinicalState


def answer(state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
    """Graph node: run the routed task through the clinical graph, then reply (streamed)."""
    run_id = state.get("run_id") or f"run-{uuid.uuid4().hex[:12]}"
    # A multi-intent turn carries its further steps in request["then"]; they run in order, same run id.
    requests = [{k: v for k, v in state["request"].items() if k != "then"}, *state["request"].get("then", [])]
    texts, results = [], []
    for request in requests:
        task_state = {"request": request, "caller": state["caller"], "run_id": run_id, "thread_id": state["thread_id"], "plan": [], "step": 0, "route_reason": state.get("route_reason", ""), "evidence": {}, "drafts": None, "output": None, "error": None, "status": "running"}
        results.append(clinical_graph.invoke(task_state, context=runtime.context))
        texts.append(answer_text(request["task"], results[-1]))
    text = "\n\n".join(texts)
    writer = get_stream_writer()
    for word in text.split(" "):
        writer({"delta": word + " "})
    result = results[0]
    ids = list(dict.fromkeys(i for r in results for i in (r.get("evidence") or {}).get("ids", [])))
    memory = remember_runs(state.get("memory") or {}, [run_record(q, r, state.get("route_reason", "")) for q, r in zip(requests, results, strict=True)])
    return {"messages": [AIMessage(content=text)], "run_id": run_id, "output": result.get("output"), "evidence": {**(result.get("evidence") or {}), "ids": ids}, "status": result.get("status", "done"), "policy_decisions": [d for r in results for d in r.get("policy_decisions", [])], "memory": memory}


builder = StateGraph(ClinicalState, context_schema=Context)
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


def chat_turn(settings: Settings, thread_id: str, message: str, user: str, role: str, purpose: str = "treatment", on_delta: Callable[[str], None] | None = None, router: Any = None) -> ChatReply:
    """Send one message on a thread; the reply is streamed to ``on_delta`` and returned (``router``: an ``agents.router.Router``)."""
    context = Context(user=user, role=role, purpose=purpose, settings=settings, router=router)
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 40}
    with get_tracer().start_as_current_span("invoke_workflow chat") as span:
        span.set_attribute(Attr.OPERATION, "invoke_workflow")
        span.set_attribute(Attr.CONVERSATION_ID, thread_id)
        span.set_attribute(Attr.THREAD_ID, thread_id)
        span.set_attribute(Attr.USER, user)
        span.set_attribute(Attr.ROLE, role)
        with open_checkpointer(settings) as saver:
            chat = builder.compile(checkpointer=saver, name="chat")
            run_id = f"run-{uuid.uuid4().hex[:12]}"
            span.set_attribute(Attr.RUN_ID, run_id)
            turn = {"messages": [HumanMessage(content=message)], "request": {"task": None, "input": {}, "text": message}, "caller": {"user": user, "role": role, "purpose": purpose}, "thread_id": thread_id, "run_id": run_id, "status": "running", "error": None, "output": None, "evidence": {}}
            for mode, chunk in chat.stream(turn, config, context=context, stream_mode=["custom"], durability="sync"):
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
