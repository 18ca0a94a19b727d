"""Clinical task runs over HTTP: create one, read its status and result, stream its events, read its trace.

``POST /api/runs`` checks the request and queues the run (202 with its status); ``?wait=true``
holds the answer until the run ends (200), or 403 when governance denied it. The run lives in a
worker, not in the request: a client that disconnects can read the result later by thread id
(from memory while the server keeps it, else from the checkpointer).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from app.http.auth import CallerDep, resources_of
from app.http.errors import ApiError, responses, status_for
from app.http.jobs import Job, JobManager, JobState
from app.http.sse import SSE_RESPONSE, follow, frame, stream
from core.errors import SageError
from services import runs
from services.base import Caller
from services.intake import check_run

router = APIRouter(tags=["runs"])
THREAD = r"^[A-Za-z0-9_.:-]{1,128}$"
WAIT_S = 600.0


def jobs_of(request: Request) -> JobManager:
    """The app's job manager."""
    return request.app.state.jobs  # type: ignore[no-any-return]


def error_of(exc: BaseException) -> dict[str, Any]:
    """A job's failure in the API's error shape, plus its HTTP status."""
    if isinstance(exc, ApiError):
        return {"type": exc.kind, "message": exc.message, "hint": exc.hint, "status": exc.status}
    if isinstance(exc, SageError):
        return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint, "status": status_for(exc)}
    return {"type": "InternalError", "message": "the run failed unexpectedly", "hint": "see the run's trace", "status": 503}


async def wait_for(job: Job, timeout: float = WAIT_S) -> None:
    """Wait (without blocking the loop) until ``job`` finishes or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not job.finished and loop.time() < deadline:
        await asyncio.sleep(0.02)


def raise_failure(job: Job) -> None:
    """Re-raise a failed job's error as the HTTP error it maps to."""
    if job.error is not None:
        err = job.error
        raise ApiError(int(err.get("status", 503)), str(err["type"]), str(err["message"]), err.get("hint"))


def raise_denied(result: dict[str, Any] | None) -> None:
    """A run governance denied is a 403 for a caller who waited for it."""
    if result and result.get("status") == "denied":
        reasons = [str(d.get("reason")) for d in result.get("policy_decisions", []) if d.get("effect") == "deny"]
        raise ApiError(403, "RunDenied", "; ".join(reasons) or "the policy pack denied the run", "use a role and purpose the pack allows for this task")


def submit_run(request: Request, caller: Caller, body: runs.RunRequest) -> Job:
    """Check and queue a run of ``body`` for ``caller``; the job id is the run's thread id."""
    if body.thread_id is not None and not re.fullmatch(THREAD, body.thread_id):
        raise ApiError(422, "RequestValidationError", f"thread_id: must match {THREAD}", "letters, digits and _.:- only, up to 128")
    check_run(body)
    thread_id = body.thread_id or f"run-{uuid.uuid4().hex[:12]}"
    resources, queued = resources_of(request), body.model_copy(update={"thread_id": thread_id})
    return jobs_of(request).submit(thread_id, "run", caller.user, lambda _: runs.run_task(resources, caller, queued), error_of)


def _state(request: Request, job: Job) -> JobState:
    return job.state(jobs_of(request).queued_ahead(job))


async def visible_job(request: Request, caller: Caller, thread_id: str) -> Job | None:
    """The in-memory job on a thread if the caller may see it (its owner, or a reviewer: checked by get_run)."""
    job = jobs_of(request).get(thread_id)
    if job is not None and job.owner != caller.user:
        await run_in_threadpool(runs.get_run, resources_of(request), caller, thread_id)  # 403/404 unless the caller may read it
    return job


@router.post("/api/runs", status_code=202, response_model=JobState, responses={200: {"model": JobState, "description": "the finished run (wait=true)"}, **responses(400, 401, 403, 404, 409, 429)})
async def create_run(request: Request, body: runs.RunRequest, caller: CallerDep,
                     wait: Annotated[bool, Query(description="Answer when the run ends (200) instead of at once (202).")] = False) -> Any:
    """Queue a run of any clinical task; with ``wait=true``, answer with its result."""
    job = submit_run(request, caller, body)
    if not wait:
        return _state(request, job)
    await wait_for(job)
    raise_failure(job)
    raise_denied(job.result)
    return JSONResponse(_state(request, job).model_dump(mode="json"), status_code=200 if job.finished else 202)


@router.get("/api/runs/{thread_id}", response_model=JobState, responses=responses(401, 403, 404))
async def read_run(request: Request, thread_id: Annotated[str, Path(pattern=THREAD)], caller: CallerDep) -> JobState:
    """A run's status (queued, running, done, failed) and, once done, its result."""
    job = await visible_job(request, caller, thread_id)
    if job is not None:
        return _state(request, job)
    result = await run_in_threadpool(runs.get_run, resources_of(request), caller, thread_id)
    return JobState(id=thread_id, kind="run", status="done", created_at=0.0, result=result.model_dump(mode="json"))


@router.get("/api/runs/{thread_id}/events", response_class=StreamingResponse, responses={**SSE_RESPONSE, **responses(401, 403, 404)})
async def run_events(request: Request, thread_id: Annotated[str, Path(pattern=THREAD)], caller: CallerDep) -> Any:
    """The run's events as Server-Sent Events.

    ``status``, one ``span`` per agent step, tool call and policy decision (with timings), then
    ``result`` (the governed answer) or ``error``, then ``end``. Reconnecting replays from the
    start (or after ``Last-Event-ID``).
    """
    job = await visible_job(request, caller, thread_id)
    if job is None:  # finished long ago or before a restart: the stored result only
        result = await run_in_threadpool(runs.get_run, resources_of(request), caller, thread_id)

        async def stored() -> Any:
            yield frame("result", result.model_dump(mode="json"), 0)
            yield frame("end", {"status": "done"}, 1)

        return stream(stored())
    last = request.headers.get("last-event-id", "")
    return stream(follow(job, int(last) + 1 if last.isdigit() else 0))


@router.get("/api/traces/{run_id}", responses=responses(401, 403, 404))
async def run_trace(request: Request, run_id: Annotated[str, Path(pattern=THREAD)], caller: CallerDep) -> list[dict[str, Any]]:
    """Every span of a run (agent decisions, tool calls, policy checks, model calls), by start time."""
    return await run_in_threadpool(runs.trace, resources_of(request), caller, run_id)
