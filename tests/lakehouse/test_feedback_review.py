"""The second review on a real lakehouse copy: a held correction is listed, refused to the wrong reviewer, approved or rejected."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from lakehouse.feedback import (
    Clinician,
    FeedbackError,
    FeedbackEvent,
    FindingChange,
    ReviewItemNotFoundError,
    ReviewRefusedError,
    decide_correction,
    decide_item,
    label_history,
    pending_corrections,
    record_feedback,
    rollback,
)
from lakehouse.feedback.tables import FeedbackTables
from lakehouse.raw.store import RawStore
from lakehouse.semantic import SearchFilter, open_store
from policies.audit import AuditLog

sys.path.insert(0, str(Path(__file__).parent))  # feedback_setup
from feedback_setup import DR_A, DR_B, RULES, writable_copy  # noqa: E402

DR_C = Clinician(user="dr-c", role="clinician", purpose="treatment")
REASON = "apical pneumothorax seen on the lateral view"


@pytest.fixture
def home(small_lakehouse: Settings, tmp_path: Path) -> Settings:
    return writable_copy(small_lakehouse, tmp_path / "home")


def _state(settings: Settings, case: str) -> tuple[Any, ...]:
    """What a refused decision must leave alone: raw tables, the case's payload, its label history, the event rows."""
    payload = open_store(settings).retrieve([case])[0].payload
    rows = sorted((r["event_id"], r["status"], r["reviewer"]) for r in FeedbackTables(settings).scan("feedback_events"))
    return RawStore(settings).table_versions(), payload, [v.version for v in label_history(settings, case)], rows


def _held(settings: Settings, audit: AuditLog) -> tuple[str, str]:
    """A high-impact correction by dr-a, held for a second reviewer; returns (case, event id)."""
    case = next(p.case_id for p in open_store(settings).scroll(SearchFilter(split="train", findings={"cardiomegaly": "absent"}), limit=50)
                if "pneumothorax" not in (p.payload.get("labels") or {}))
    result = record_feedback(settings, FeedbackEvent(case_id=case, clinician=DR_A, reason=REASON, run_id="run-r1",
                                                     changes=[FindingChange(finding="pneumothorax", old=None, new="present")]), audit=audit, rules=RULES)
    assert result.status == "needs_review" and result.label_version is None and not result.labels
    return case, result.event_id


def test_a_held_correction_is_approved_only_by_another_reviewer(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    case, event_id = _held(home, audit)
    listed = pending_corrections(home)
    assert [(p.event_id, p.case_id, p.user, p.reason, p.run_id) for p in listed] == [(event_id, case, "dr-a", REASON, "run-r1")]
    assert listed[0].changes[0].finding == "pneumothorax" and any("high-impact" in w for w in listed[0].why)
    assert pending_corrections(home, case_id="CXR-other") == []
    before = _state(home, case)

    # refused, audited, nothing changes: the submitter, a role the pack does not let review, a role that may not relabel
    with pytest.raises(ReviewRefusedError, match="another user"):
        decide_correction(home, event_id, DR_A, True, audit=audit, rules=RULES)
    with pytest.raises(ReviewRefusedError, match="may not review"):
        decide_correction(home, event_id, DR_C, True, audit=audit, rules=RULES.model_copy(update={"reviewer_roles": ["radiologist"]}))
    with pytest.raises(ReviewRefusedError, match="may not relabel"):
        decide_correction(home, event_id, Clinician(user="r1", role="researcher", purpose="research"), True, audit=audit, rules=RULES)
    with pytest.raises(ReviewItemNotFoundError):
        decide_item(home, "fb-0000000000000000", DR_B, True, audit=audit)
    assert _state(home, case) == before
    assert [p.event_id for p in pending_corrections(home)] == [event_id]

    outcome = decide_item(home, event_id, DR_B, True, audit=audit, rules=RULES, note="agree, visible pleural line")
    assert outcome.kind == "correction" and outcome.approved and outcome.reviewer == "dr-b" and outcome.result is not None
    assert outcome.result.status == "applied" and outcome.result.labels["pneumothorax"] == "present"
    assert outcome.label_version == outcome.result.label_version
    payload = open_store(home).retrieve([case])[0].payload
    assert payload["labels"]["pneumothorax"] == "present" and payload["label_version"] == outcome.label_version and "pneumothorax" in payload["positive_findings"]
    last = label_history(home, case)[-1]
    assert (last.kind, last.event_id, last.actor, last.reviewer, last.reason, last.version) == ("correction", event_id, "dr-a", "dr-b", REASON, outcome.label_version)
    row = next(r for r in FeedbackTables(home).scan("feedback_events") if r["event_id"] == event_id)
    assert (row["status"], row["reviewer"]) == ("applied", "dr-b")
    assert pending_corrections(home) == []
    with pytest.raises(FeedbackError, match="applied, not pending review"):
        decide_correction(home, event_id, DR_B, True, audit=audit)

    trail = [(e.actor, e.action, e.decision) for e in audit.entries() if e.details.get("event_id") == event_id]
    assert trail[0] == ("dr-a", "feedback:correct", "review")
    assert trail.count(("dr-a", "feedback:review", "deny")) == 1 and ("dr-c", "feedback:review", "deny") in trail and ("r1", "feedback:review", "deny") in trail
    assert ("dr-a", "feedback:correct", "ok") in trail and ("dr-b", "feedback:review", "ok") in trail
    assert audit.verify().ok
    assert all(REASON not in str(e.details) and "pleural line" not in str(e.details) for e in audit.entries())  # fingerprints only


def test_a_held_correction_rejected_changes_no_label(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    case, event_id = _held(home, audit)
    labels = open_store(home).retrieve([case])[0].payload["labels"]
    versions = [v.version for v in label_history(home, case)]

    outcome = decide_item(home, event_id, DR_B, False, audit=audit, note="no pneumothorax, skin fold")
    assert outcome.kind == "correction" and not outcome.approved and outcome.label_version is None and outcome.result is None
    assert open_store(home).retrieve([case])[0].payload["labels"] == labels
    assert [v.version for v in label_history(home, case)] == versions
    row = next(r for r in FeedbackTables(home).scan("feedback_events") if r["event_id"] == event_id)
    assert (row["status"], row["reviewer"], row["reason"]) == ("rejected", "dr-b", REASON)
    assert pending_corrections(home) == []
    with pytest.raises(FeedbackError, match="rejected, not pending review"):
        decide_item(home, event_id, DR_B, True, audit=audit)
    with pytest.raises(FeedbackError, match="not applied"):
        rollback(home, event_id, DR_B, audit=audit)
    assert ("dr-b", "feedback:review", "deny") in [(e.actor, e.action, e.decision) for e in audit.entries() if e.details.get("event_id") == event_id]
