"""A reviewer's edit of a paused report draft corrects the reported case through the feedback loop.

Real components: a report run (``rag``, no model) on the small lakehouse pauses for review on an
uncertain finding, the reviewer edits the impression in the review queue, the run resumes, and
the finding the edit adds becomes a correction of the case: a new label version in the raw tier
and the Qdrant payload, linked to the run, audited as ``feedback:correct``.
"""

from __future__ import annotations

from typing import Any

from lakehouse.feedback import label_history
from lakehouse.feedback.tables import FeedbackTables
from lakehouse.labeler import label_text
from services import reviews, runs
from services.base import Caller
from services.feedback import edited_labels
from tools.resources import Resources

REVIEWER = Caller(user="dr-rev", role="radiologist", purpose="quality")
AUTHOR = Caller(user="dr-auth", role="clinician", purpose="treatment")
ADDED = ("cardiomegaly", "edema", "atelectasis", "pleural_effusion", "lung_opacity")  # not high-impact: no second reviewer needed


def _paused_report(resources: Resources) -> tuple[Any, dict[str, Any], str]:
    """A report run of a case whose findings state an uncertain finding (the pack sends it to review), and a finding to add."""
    for point in resources.store.scroll(limit=300):
        findings = point.payload.get("findings") or ""
        if "uncertain" not in label_text(findings).values():
            continue
        labels = point.payload.get("labels") or {}
        result = runs.run_task(resources, AUTHOR, runs.RunRequest(task="report", input={"findings": findings, "case_id": point.case_id, "mode": "rag"}))
        assert result.status == "review", result.error
        draft = result.review["output"]
        added = next((f for f in ADDED if labels.get(f) != "present" and draft["draft_labels"].get(f) != "present"), None)
        if added is not None:
            return result, labels, added
    raise AssertionError("no case in the small lakehouse pauses for review with a finding left to add")


def test_a_review_edit_of_a_report_draft_becomes_a_feedback_event(resources: Resources) -> None:
    paused, labels, added = _paused_report(resources)
    case_id = _case_of(resources, paused.thread_id)
    before_version = resources.store.retrieve([case_id])[0].payload["label_version"]
    impression = f"{paused.review['output']['impression']} {added.replace('_', ' ').capitalize()}."
    assert label_text(impression).get(added) == "present"

    done = reviews.decide(resources, REVIEWER, reviews.ReviewDecision(thread_id=paused.thread_id, action="edit", note="missed finding", output={"impression": impression}))
    assert done.status == "done" and done.output["impression"] == impression
    fb = done.feedback
    assert fb is not None and fb["status"] == "applied", fb
    assert fb["case_id"] == case_id and fb["labels"][added] == "present"

    # The same loop as `sagehealth feedback`: a new version in both tiers, linked to the run and the reviewer.
    payload = resources.store.retrieve([case_id])[0].payload
    assert payload["labels"][added] == "present" and payload["label_version"] == before_version + 1 == fb["label_version"]
    last = label_history(resources.settings, case_id)[-1]
    assert (last.kind, last.event_id, last.actor, last.role) == ("correction", fb["event_id"], "dr-rev", "radiologist")
    assert last.changed[added] == [labels.get(added), "present"]
    event = next(r for r in FeedbackTables(resources.settings).scan("feedback_events") if r["event_id"] == fb["event_id"])
    assert event["run_id"] == paused.run_id and event["kind"] == "correction"
    entry = next(e for e in reversed(resources.audit.entries()) if e.action == "feedback:correct")
    assert (entry.actor, entry.resource, entry.run_id, entry.decision) == ("dr-rev", case_id, paused.run_id, "ok")
    assert entry.details["event_id"] == fb["event_id"] and "missed finding" not in str(entry.details)


def _case_of(resources: Resources, thread_id: str) -> str:
    from graphs.runner import snapshot_of

    return str(snapshot_of(resources, thread_id).values["request"]["input"]["case_id"])


def test_an_approval_or_an_edit_that_agrees_with_the_labels_records_nothing(resources: Resources) -> None:
    paused, labels, _ = _paused_report(resources)
    versions = len(FeedbackTables(resources.settings).scan("label_versions"))
    done = reviews.decide(resources, REVIEWER, reviews.ReviewDecision(thread_id=paused.thread_id, action="approve"))
    assert done.status == "done" and done.feedback is None
    assert len(FeedbackTables(resources.settings).scan("label_versions")) == versions


def test_edited_labels_reads_what_the_reviewer_changed() -> None:
    draft = {"impression": "Cardiomegaly. Small right pleural effusion.", "draft_labels": {"cardiomegaly": "present", "pleural_effusion": "present"}}
    assert edited_labels(draft, {"impression": "Cardiomegaly. Right basilar atelectasis."}) == {"atelectasis": "present", "pleural_effusion": "absent"}
    assert edited_labels(draft, {"draft_labels": {"cardiomegaly": "absent", "pleural_effusion": "present"}}) == {"cardiomegaly": "absent"}
    assert edited_labels(draft, {"note_only": 1}) == {}
    assert edited_labels(draft, {"impression": draft["impression"]}) == {}
