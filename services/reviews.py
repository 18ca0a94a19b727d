"""The human in the loop as services: list paused runs, show one, and decide it.

A paused run holds a draft that may carry patient data, and a reviewer's decision finishes it,
so listing, showing and deciding are governed like tools: the pack must grant the caller's role
``review``, and each check is one audit event. Deciding resumes the run *as the reviewer*: the
graph's review gate (``agents.governance.governance_post``) checks the same right again from
the run context, so no door (CLI, HTTP, ``langgraph dev``, SDK) can approve without it.

A reviewer's edit of a report draft is also clinical feedback: when the edited impression or
finding labels state a finding differently from the draft, and the case's stored label
differs too, the reported case is corrected through ``services.feedback`` (the path of
``sagehealth feedback``: the reviewer's relabel right, the pack's second-reviewer and
propagation rules, a new label version, audit). The result is on ``RunResult.feedback``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.telemetry import Attr
from graphs.runner import RunResult, load_result, paused_runs, resume_run, run_options, snapshot_of
from services.base import Caller, ServiceRequest, context_for, governed, require_caller
from tools.resources import Resources

REVIEW_ACTION = "review"
HINT = "ask a clinician or radiologist to review (pass --user NAME --role clinician)"


class ReviewDecision(ServiceRequest):
    """A reviewer's answer to a paused run."""

    thread_id: str = Field(min_length=1, max_length=128)
    action: Literal["approve", "edit", "reject"]
    note: str = Field("", max_length=2000, description="Reviewer's note (PHI is masked before it is kept).")
    output: dict[str, Any] | None = Field(None, description="Corrected output fields (edit only), merged into the output.")


def list_reviews(resources: Resources, caller: Caller) -> list[RunResult]:
    """Runs paused for review."""
    with governed(resources, caller, "list_reviews", REVIEW_ACTION, resource="paused-runs", audit_action="review:list", hint=HINT):
        return paused_runs(resources)


def show_review(resources: Resources, caller: Caller, thread_id: str) -> RunResult:
    """One paused run: why it waits, and the output to review."""
    with governed(resources, caller, "show_review", REVIEW_ACTION, resource=thread_id[:128], audit_action="review:show", hint=HINT):
        return load_result(resources, thread_id)


def decide(resources: Resources, caller: Caller, decision: ReviewDecision) -> RunResult:
    """Approve, edit or reject a paused run; the run resumes and finishes as the reviewer.

    Raises:
        tools.governed.ActionDeniedError: the reviewer's role may not review (audited; the run
            stays paused).
    """
    require_caller(caller, resources)
    if decision.output is not None and decision.action != "edit":
        from core.errors import SageError

        raise SageError("only an edit carries output fields", hint="use `review edit THREAD --output ...`")
    values = snapshot_of(resources, decision.thread_id).values or {}
    run_id = values.get("run_id")
    payload: dict[str, Any] = {"action": decision.action, "note": decision.note}
    if decision.output is not None:
        payload["output"] = decision.output
    with governed(resources, caller, "clinical", REVIEW_ACTION, service="review", resource=decision.thread_id, run_id=run_id, audit_action=f"review:{decision.action}", hint=HINT) as (span, _):
        context = context_for(resources, caller, **run_options(resources, decision.thread_id))
        span.set_attribute(Attr.THREAD_ID, decision.thread_id)
        span.set_attribute(Attr.RUN_ID, str(run_id))
        paused = load_result(resources, decision.thread_id)
        draft = dict((paused.review or {}).get("output") or paused.output or {})  # what the reviewer was shown
        result = resume_run(resources, context, decision.thread_id, payload)
    if decision.action == "edit" and decision.output and result.status == "done":
        result = result.model_copy(update={"feedback": _edit_feedback(resources, caller, values, draft, decision)})
    return result


def _edit_feedback(resources: Resources, caller: Caller, values: dict[str, Any], draft: dict[str, Any], decision: ReviewDecision) -> dict[str, Any] | None:
    """The correction a report draft's edit makes to the reported case (None: not a report of a known case, or nothing to correct)."""
    from pydantic import ValidationError

    from core.errors import SageError
    from services.feedback import correct_from_review, edited_labels

    request = values.get("request") or {}
    case_id = (request.get("input") or {}).get("case_id")
    if request.get("task") != "report" or not case_id:
        return None
    stated = edited_labels(draft, decision.output or {})
    if not stated:
        return None
    try:
        result = correct_from_review(resources, caller, case_id=str(case_id), stated=stated, run_id=values.get("run_id"))
    except (SageError, ValidationError) as exc:  # the edit stands; the label correction is refused (and audited when the gate refused it)
        message = exc.message if isinstance(exc, SageError) else "; ".join(e["msg"] for e in exc.errors(include_url=False))
        return {"case_id": str(case_id), "status": "rejected", "reasons": [message]}
    return result.model_dump(mode="json") if result is not None else None
