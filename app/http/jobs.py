"""Runs and chat turns as background jobs with bounded concurrency and a replayable event log.

Jobs wait queued with a visible status, and their events outlive the request that started them.

A route never runs graph work on the event loop or in the request's own thread: it submits a
job to a pool of ``limit`` worker threads (the model-call concurrency limit) and answers at once.
Jobs beyond the limit wait in the pool's queue with status ``queued``; a full queue is refused
(429) instead of growing without bound. A job keeps every event it emitted, so a client that
disconnects and comes back (or a second client) replays the stream from the start, and the
result stays readable; finished jobs are dropped from memory oldest first, after which the run
is still read from the checkpointer (``services.runs.get_run``).

Events come from the job's own callbacks (chat deltas) and from its trace: :class:`SpanFeed`
is an OpenTelemetry exporter that hands each ended span to the job whose worker thread (or a
LangGraph executor thread, which copies the context) ended it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic import BaseModel, Field

from app.http.errors import ApiError

Status = Literal["queued", "running", "done", "failed"]
_current: contextvars.ContextVar[Job | None] = contextvars.ContextVar("sage_http_job", default=None)

# Span attributes worth streaming: which agent, tool or policy step, and how it ended.
_SPAN_KEYS = ("gen_ai.operation.name", "gen_ai.agent.name", "gen_ai.tool.name", "gen_ai.request.model", "gen_ai.usage.output_tokens",
              "sage.policy.effect", "sage.task", "sage.route", "sage.workflow", "sage.run_id", "error.type", "sage.status")


class JobState(BaseModel):
    """Where a job is: ``queued`` (waiting for a worker), ``running``, ``done`` or ``failed``."""

    id: str = Field(description="The job id: the run's or the chat turn's thread id.")
    kind: Literal["run", "chat"]
    status: Status
    queued_ahead: int = Field(0, description="Jobs queued before this one (while queued).")
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = Field(None, description="The service's result (RunResult or ChatReply) once done.")
    error: dict[str, Any] | None = Field(None, description="The error in the API's error shape, when failed.")


class Job:
    """One submitted run or chat turn and its event log (append-only, replayable)."""

    def __init__(self, job_id: str, kind: Literal["run", "chat"], owner: str) -> None:
        self.id, self.kind, self.owner = job_id, kind, owner
        self.status: Status = "queued"
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.emit("status", {"status": "queued"})

    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Append one event (thread-safe; readers only ever see whole events)."""
        with self._lock:
            self.events.append((event, data))

    @property
    def finished(self) -> bool:
        """Whether the job has its result or its error."""
        return self.status in ("done", "failed")

    def state(self, queued_ahead: int = 0) -> JobState:
        """The job as the API shows it."""
        return JobState(id=self.id, kind=self.kind, status=self.status, queued_ahead=queued_ahead if self.status == "queued" else 0,
                        created_at=self.created_at, started_at=self.started_at, finished_at=self.finished_at, result=self.result, error=self.error)


def _span_event(span: ReadableSpan) -> dict[str, Any]:
    attrs = dict(span.attributes or {})
    start, end = span.start_time or 0, span.end_time or 0
    return {"name": span.name, "span_id": f"{span.context.span_id:016x}" if span.context else None,
            "parent_id": f"{span.parent.span_id:016x}" if span.parent else None, "duration_ms": round((end - start) / 1e6, 3),
            "status": span.status.status_code.name, "attributes": {k: attrs[k] for k in _SPAN_KEYS if k in attrs}}


class SpanFeed(SpanExporter):
    """Streams each ended span to the job whose context ended it (spans are PHI-free by design)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Hand spans to the current job, if any (called synchronously where the span ended)."""
        job = _current.get()
        if job is not None:
            for span in spans:
                job.emit("span", _span_event(span))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


class JobManager:
    """The worker pool, its queue bound, and the jobs it knows (most recent ``keep`` finished ones)."""

    def __init__(self, limit: int = 2, max_queued: int = 64, keep: int = 1000) -> None:
        self.limit, self.max_queued, self.keep = limit, max_queued, keep
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="sage-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        """A job still in memory, by id."""
        with self._lock:
            return self._jobs.get(job_id)

    def counts(self) -> dict[str, int]:
        """Jobs in memory by status."""
        with self._lock:
            states = [j.status for j in self._jobs.values()]
        return {status: states.count(status) for status in ("queued", "running", "done", "failed")}

    def queued_ahead(self, job: Job) -> int:
        """How many queued jobs were submitted before ``job``."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.status == "queued" and j.created_at < job.created_at)

    def submit(self, job_id: str, kind: Literal["run", "chat"], owner: str, work: Callable[[Job], BaseModel],
               on_error: Callable[[BaseException], dict[str, Any]]) -> Job:
        """Queue ``work(job)``; 409 if a job on that id is still unfinished, 429 when the queue is full."""
        with self._lock:
            active = self._jobs.get(job_id)
            if active is not None and not active.finished:
                raise ApiError(409, "ConflictError", f"a {active.kind} on thread {job_id!r} is still {active.status}", "wait for it (GET its status) or use another thread id")
            if sum(1 for j in self._jobs.values() if j.status == "queued") >= self.max_queued:
                raise ApiError(429, "QueueFullError", f"{self.max_queued} jobs are already queued", "retry later")
            job = Job(job_id, kind, owner)
            self._jobs.pop(job_id, None)
            self._jobs[job_id] = job
            self._evict()
        self._pool.submit(self._run, job, work, on_error)
        return job

    def _evict(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished]
        for key in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[key]

    def _run(self, job: Job, work: Callable[[Job], BaseModel], on_error: Callable[[BaseException], dict[str, Any]]) -> None:
        token = _current.set(job)
        job.started_at, job.status = time.time(), "running"
        job.emit("status", {"status": "running"})
        final: Status = "done"
        try:
            job.result = work(job).model_dump(mode="json")
            job.emit("result", job.result)
        except Exception as exc:  # a worker must never die silently: the job records it
            job.error, final = on_error(exc), "failed"
            job.emit("error", job.error)
        finally:
            job.emit("status", {"status": final})
            job.finished_at = time.time()
            job.status = final  # last: a reader that sees "finished" has every event
            _current.reset(token)

    def close(self) -> None:
        """Stop taking jobs; running ones finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
