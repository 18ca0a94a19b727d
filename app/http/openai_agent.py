"""An OpenAI-compatible endpoint over the whole governed agent system, not the bare model.

``/v1/chat/completions`` with model ``sagehealth-agent`` is one governed chat turn per choice
(``services.chat.turn``): the planner routes the last user message to a clinical task, the
policy pack gates it, and the answer is audited and traced, so chat clients, evaluation
harnesses and red-team scanners exercise the real system. The API key maps to the caller.

Conversation memory lives in the thread, not in the request: the thread id comes from
``metadata.thread_id`` or ``user`` (a new thread per request otherwise), and only the last user
message is sent (earlier ``messages`` are already in the thread, or are ignored).
``n`` > 1 runs ``n`` separate turns: choice 0 on the thread, choice *i* on ``{thread}~i``, so
each choice is a real governed answer and the thread's memory holds one turn, not ``n``.
Sampling parameters are accepted (strictly typed) and ignored: the agents decide decoding.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.http.auth import CallerDep, resources_of
from app.http.errors import ApiError, responses
from app.http.routes_chat import check_thread, submit_turn
from app.http.routes_runs import raise_failure, wait_for
from app.http.sse import SSE_RESPONSE, follow, stream
from core.errors import SageError
from services import models

router = APIRouter(tags=["openai"])
AGENT = "sagehealth-agent"
MAX_N = 4
STRICT = ConfigDict(strict=True, extra="ignore")


class ContentPart(BaseModel):
    """One part of a multi-part message (text parts carry the content)."""

    model_config = STRICT
    type: str = Field(max_length=64)
    text: str | None = Field(None, max_length=20000)


class MessageIn(BaseModel):
    """One conversation turn."""

    model_config = STRICT
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, max_length=128)

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    """``stream_options``."""

    model_config = STRICT
    include_usage: bool = False


class CompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: standard parameters, strictly typed; unknown ones ignored."""

    model_config = STRICT
    model: str = Field(min_length=1, max_length=200)
    messages: list[MessageIn] = Field(min_length=1, max_length=256)
    n: int = Field(1, ge=1, le=MAX_N, description=f"Choices, each a separate governed turn (at most {MAX_N}).")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=128, description="Used as the thread id when metadata.thread_id is absent.")
    metadata: dict[str, str] | None = Field(None, description="``thread_id`` selects the conversation thread.")
    # Accepted and ignored: the agents choose decoding.
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "sagehealth"


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


def _thread(body: CompletionRequest) -> str:
    chosen = (body.metadata or {}).get("thread_id") or body.user or f"oai-{uuid.uuid4().hex[:12]}"
    return "".join(c if c.isalnum() or c in "_.:-" else "_" for c in chosen)[:120]


def _message(body: CompletionRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user" and message.text().strip():
            return message.text()
    raise ApiError(400, "InvalidRequest", "no user message with text in messages", "send at least one {'role': 'user', 'content': '...'}")


@router.get("/v1/models", response_model=ModelList, responses=responses(401))
async def list_models(request: Request, caller: CallerDep) -> ModelList:
    """``sagehealth-agent`` (the governed agent system), then the zoo models the caller may see."""
    cards = [ModelCard(id=AGENT)]
    try:
        zoo = await run_in_threadpool(models.list_models, resources_of(request), caller)
        cards += [ModelCard(id=m.spec.name) for m in zoo]
    except SageError:  # a role without models_read sees the agent only (the denial is audited)
        pass
    return ModelList(data=cards)


def _chunk(cid: str, created: int, index: int, delta: dict[str, Any], finish: str | None = None) -> str:
    payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": AGENT,
               "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}]}
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


@router.post("/v1/chat/completions", response_model=None, responses={**SSE_RESPONSE, **responses(400, 401, 403, 404, 409, 429)})
async def chat_completions(request: Request, body: CompletionRequest, caller: CallerDep) -> JSONResponse | StreamingResponse:
    """A governed chat turn per choice, in the OpenAI chat-completions format (streamed or not)."""
    if body.model != AGENT:
        raise ApiError(404, "model_not_found", f"model {body.model!r} is not served here", f"use model {AGENT!r} (GET /v1/models)")
    thread, message = _thread(body), _message(body)
    threads = [thread] + [f"{thread}~{i}" for i in range(1, body.n)]
    resources = resources_of(request)
    for t in threads:
        await run_in_threadpool(check_thread, resources, caller, t)
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if body.stream:
        response = stream(_streamed(request, caller, threads, message, cid, created))
        response.headers["x-sage-thread-id"] = thread
        return response
    choices = []
    for index, t in enumerate(threads):  # one at a time: the turns share the concurrency limit with everyone
        job = submit_turn(request, caller, t, message)
        await wait_for(job)
        raise_failure(job)
        reply = job.result or {}
        choices.append({"index": index, "message": {"role": "assistant", "content": reply.get("text", "")}, "finish_reason": "stop", "logprobs": None})
    # No usage block: a turn may call several models (or none); zeros would be a false count.
    return JSONResponse({"id": cid, "object": "chat.completion", "created": created, "model": AGENT, "choices": choices}, headers={"x-sage-thread-id": thread})


async def _streamed(request: Request, caller: Any, threads: list[str], message: str, cid: str, created: int) -> AsyncIterator[str]:
    for index, t in enumerate(threads):
        yield _chunk(cid, created, index, {"role": "assistant", "content": ""})
        job = submit_turn(request, caller, t, message)

        seen = {"delta": False}

        def render(event: str, data: dict[str, Any], _: int, index: int = index, seen: dict[str, bool] = seen) -> str | None:
            if event == "delta" and data.get("text"):
                seen["delta"] = True
                return _chunk(cid, created, index, {"content": data["text"]})
            if event == "result" and not seen["delta"] and data.get("text"):  # denied or held for review: the governed text, once
                return _chunk(cid, created, index, {"content": data["text"]})
            if event == "error":
                err = {"error": {"type": data.get("type"), "message": data.get("message"), "hint": data.get("hint")}}
                return f"data: {json.dumps(err)}\n\n"
            return None

        async for text in follow(job, render=render):
            yield text
        yield _chunk(cid, created, index, {}, "stop")
    yield "data: [DONE]\n\n"
