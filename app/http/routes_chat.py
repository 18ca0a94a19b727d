"""Chat on a thread over HTTP: each turn is a governed job, its answer streamed as it is written.

A turn is queued like a run (it calls the model), so it shares the concurrency limit. The
stream carries ``delta`` events (answer text), ``span`` events (the agents and tools the turn
used, with timings), then ``result`` (the ChatReply: task, status, cited evidence ids).
A thread belongs to the caller who started it: another caller may post on it only with the
right to read that caller's runs (``services.runs.get_run`` decides, and audits).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.http.auth import CallerDep, resources_of
from app.http.errors import responses
from app.http.jobs import Job
from app.http.routes_runs import error_of, jobs_of, raise_failure, wait_for
from app.http.sse import SSE_RESPONSE, follow, stream
from core.errors import SageError
from services import chat, runs
from services.base import Caller, Resources

router = APIRouter(tags=["chat"])


class ChatBody(BaseModel):
    """One message; omit ``thread_id`` to start a new conversation."""

    model_config = ConfigDict(strict=True, extra="forbid")
    message: str = Field(min_length=1, max_length=20000)
    thread_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] = None
    stream: bool = Field(True, description="Answer as Server-Sent Events (default) or as one JSON ChatReply.")


def check_thread(resources: Resources, caller: Caller, thread_id: str) -> None:
    """Refuse a turn on someone else's thread unless the caller may read their runs (403)."""
    try:
        runs.get_run(resources, caller, thread_id)
    except SageError as exc:
        if type(exc).__name__ != "RunNotFoundError":  # a new thread is the caller's own
            raise


def submit_turn(request: Request, caller: Caller, thread_id: str, message: str) -> Job:
    """Queue one chat turn whose answer text streams into the job's ``delta`` events."""
    resources = resources_of(request)

    def work(job: Job) -> Any:
        return chat.turn(resources, caller, chat.ChatRequest(thread_id=thread_id, message=message), on_delta=lambda text: job.emit("delta", {"text": text}))

    return jobs_of(request).submit(thread_id, "chat", caller.user, work, error_of)


@router.post("/api/chat", response_model=None, responses={**SSE_RESPONSE, **responses(400, 401, 403, 409, 429)})
async def chat_turn(request: Request, body: ChatBody, caller: CallerDep) -> StreamingResponse | JSONResponse:
    """Send one message on a thread; the reply streams as Server-Sent Events (or JSON with stream=false)."""
    thread_id = body.thread_id or f"chat-{uuid.uuid4().hex[:12]}"
    if body.thread_id:
        await run_in_threadpool(check_thread, resources_of(request), caller, thread_id)
    job = submit_turn(request, caller, thread_id, body.message)
    if body.stream:
        return stream(follow(job))
    await wait_for(job)
    raise_failure(job)
    return JSONResponse(job.result or {}, status_code=200)
