"""Search, de-identified cases, clinician feedback on a case's labels, human reviews and health, over HTTP.

Each route is one service call run in Starlette's thread pool (these are fast and call no
generative model, so they do not take a slot of the run queue), except answering a review,
which resumes a run and therefore goes through the job queue like one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from app.http.auth import CallerDep, resources_of
from app.http.errors import ApiError, responses
from app.http.routes_runs import THREAD, error_of, jobs_of, raise_failure, wait_for
from services import cases, data, feedback, reviews
from services.intake import task_names

router = APIRouter()


class Health(BaseModel):
    """``GET /healthz``: the server answers, and how busy its run queue is."""

    status: Literal["ok"] = "ok"
    running: int
    queued: int
    concurrency: int
    tasks: list[str]
    findings: list[str] = Field(description="The finding keys a case's labels use (what feedback may correct).")
    states: list[str] = Field(description="The states a finding label may take.")


class ReviewAnswer(BaseModel):
    """A reviewer's answer to a paused run."""

    model_config = ConfigDict(strict=True, extra="forbid")
    action: Literal["approve", "edit", "reject"]
    note: str = Field("", max_length=2000)
    output: dict[str, Any] | None = Field(None, description="Corrected output fields (edit only).")


class FeedbackBody(BaseModel):
    """A clinician's correction of one case's labels (the caller is the clinician; a second reviewer decides it later, by its id)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    changes: list[feedback.FindingChange] = Field(min_length=1, max_length=14, description="Each finding's state as seen (`old`, null: not stated) and as it should be (`new`).")
    reason: str = Field(min_length=3, max_length=1000, description="Why (kept in the raw tier; only a fingerprint is audited).")
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="The run whose output was wrong, if any.")


class DecisionBody(BaseModel):
    """A reviewer's decision on a pending correction or a queued proposal (the caller is the reviewer)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    action: Literal["approve", "reject"]
    note: str = Field("", max_length=2000, description="Your note on the decision (only its fingerprint is audited).")


CASE = r"^[A-Za-z0-9_.:-]{1,64}$"


@router.get("/healthz", response_model=Health, tags=["system"], responses=responses())
def healthz(request: Request) -> Health:
    """Liveness and queue depth (no key needed; nothing about patients or callers)."""
    manager = jobs_of(request)
    counts = manager.counts()
    return Health(running=counts["running"], queued=counts["queued"], concurrency=manager.limit, tasks=task_names(),
                  findings=list(feedback.FINDING_KEYS), states=list(feedback.STATES))


@router.post("/api/search", response_model=data.SearchResult, tags=["data"], responses=responses(400, 401, 403))
async def search(request: Request, body: data.SearchRequest, caller: CallerDep) -> data.SearchResult:
    """Similar prior cases for a findings text, under the caller's access filter."""
    return await run_in_threadpool(data.search, resources_of(request), caller, body)


@router.get("/api/cases/{case_id}", response_model=cases.CaseView, tags=["data"], responses=responses(401, 403, 404))
async def show_case(request: Request, case_id: Annotated[str, Path(pattern=CASE)], caller: CallerDep) -> cases.CaseView:
    """A cited case, de-identified (the caller's role must be allowed to retrieve cases)."""
    return await run_in_threadpool(cases.case, resources_of(request), caller, cases.CaseRequest(case_id=case_id))


@router.post("/api/cases/{case_id}/feedback", response_model=feedback.FeedbackResult, tags=["data"], responses=responses(400, 401, 403))
async def correct_case(request: Request, case_id: Annotated[str, Path(pattern=CASE)], body: FeedbackBody,
                       caller: CallerDep) -> feedback.FeedbackResult:
    """Correct a case's finding labels as the caller (a role the pack lets relabel; checked and audited).

    The answer's ``status`` is ``applied`` (a new label version; similar cases get proposals),
    ``needs_review`` (the pack wants a second reviewer for this finding: the correction is held
    under ``event_id``, listed by ``GET /api/feedback/pending``, and another user in a reviewer
    role decides it with ``POST /api/feedback/{event_id}/decision``) or ``rejected`` (e.g. an
    unknown case), with ``reasons``.
    """
    correction = feedback.CorrectionRequest(case_id=case_id, changes=body.changes, reason=body.reason, run_id=body.run_id, reviewer=None)
    return await run_in_threadpool(feedback.correct, resources_of(request), caller, correction)


@router.get("/api/feedback/pending", response_model=feedback.PendingReviews, tags=["data"], responses=responses(400, 401, 403))
async def pending_feedback(request: Request, caller: CallerDep, case_id: Annotated[str | None, Query(pattern=CASE, description="Only this case's items.")] = None) -> feedback.PendingReviews:
    """Corrections held for a second reviewer and proposals queued for review (a role that may relabel; audited; reasons de-identified)."""
    return await run_in_threadpool(feedback.pending, resources_of(request), caller, case_id)


@router.post("/api/feedback/{item_id}/decision", response_model=feedback.ReviewOutcome, tags=["data"], responses=responses(400, 401, 403, 404))
async def decide_feedback(request: Request, item_id: Annotated[str, Path(pattern=feedback.ITEM_ID)], body: DecisionBody, caller: CallerDep) -> feedback.ReviewOutcome:
    """Approve or reject a held correction (its event id) or a queued proposal (its id) as the caller.

    403: the caller may not relabel, submitted the correction, or is not in one of the pack's
    reviewer roles (audited; nothing changes). 404: no such item. 400: it no longer waits.
    """
    return await run_in_threadpool(feedback.decide, resources_of(request), caller, item_id, body.action == "approve", body.note)


@router.get("/api/reviews", tags=["reviews"], responses=responses(401, 403))
async def list_reviews(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    """Runs paused for human review, with why they wait."""
    found = await run_in_threadpool(reviews.list_reviews, resources_of(request), caller)
    return [r.model_dump(mode="json") for r in found]


@router.get("/api/reviews/{thread_id}", tags=["reviews"], responses=responses(401, 403, 404))
async def show_review(request: Request, thread_id: Annotated[str, Path(pattern=THREAD)], caller: CallerDep) -> dict[str, Any]:
    """One paused run: its draft and the reasons it waits."""
    found = await run_in_threadpool(reviews.show_review, resources_of(request), caller, thread_id)
    return found.model_dump(mode="json")


@router.post("/api/reviews/{thread_id}", tags=["reviews"], responses=responses(400, 401, 403, 404, 409, 429))
async def answer_review(request: Request, thread_id: Annotated[str, Path(pattern=THREAD)], body: ReviewAnswer, caller: CallerDep) -> dict[str, Any]:
    """Approve, edit or reject a paused run; the run finishes as the reviewer and its result is returned."""
    decision = reviews.ReviewDecision(thread_id=thread_id, action=body.action, note=body.note, output=body.output)
    resources = resources_of(request)
    job = jobs_of(request).submit(thread_id, "run", caller.user, lambda _: reviews.decide(resources, caller, decision), error_of)
    await wait_for(job)
    raise_failure(job)
    if job.result is None:
        raise ApiError(503, "Timeout", "the review is still being applied", f"read GET /api/runs/{thread_id}")
    return job.result
