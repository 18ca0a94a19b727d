"""A chat turn as a service: the planner routes the message, the clinical graph answers it.

The caller needs the ``chat`` action; the task the planner picks is then gated like any run by
the graph's governance agent (``governance_pre``). One audit event per turn with its outcome.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from core.telemetry import Attr
from graphs.chat import ChatReply, chat_turn
from graphs.runner import RunNotFoundError, snapshot_of
from policies.audit import AuditEvent
from services.base import Caller, ServiceRequest, context_for, governed
from tools.resources import Resources


class ChatRequest(ServiceRequest):
    """One message on a thread (a new thread id starts a new conversation)."""

    thread_id: str = Field(min_length=1, max_length=128)
    message: str = Field(min_length=1, max_length=20000)


def turn(resources: Resources, caller: Caller, request: ChatRequest, on_delta: Callable[[str], None] | None = None) -> ChatReply:
    """Send one message; the reply is streamed to ``on_delta`` and returned."""
    try:  # a thread is its starter's conversation: anyone else needs the review right to read on in it
        owner = (snapshot_of(resources, request.thread_id).values.get("caller") or {}).get("user")
    except RunNotFoundError:
        owner = None
    actions = ["chat"] if owner in (None, caller.user) else ["chat", "review"]
    with governed(resources, caller, "chat", actions, resource=request.thread_id, audit=False) as (span, _):
        context = context_for(resources, caller)
        span.set_attribute(Attr.CONVERSATION_ID, request.thread_id)
        span.set_attribute(Attr.THREAD_ID, request.thread_id)
        reply = chat_turn(resources, context, request.thread_id, request.message, on_delta)
        if reply.run_id:
            span.set_attribute(Attr.RUN_ID, reply.run_id)
    details = {"role": caller.role, "purpose": caller.purpose, "task": reply.task, "status": reply.status, "evidence": reply.evidence_ids[:50]}
    resources.audit.append(AuditEvent(actor=caller.user, action="chat", resource=request.thread_id, decision=reply.status, run_id=reply.run_id, details=details))
    return reply
