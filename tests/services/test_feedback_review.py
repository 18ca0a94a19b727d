"""The review queue of the feedback loop as services: list what waits, decide it through the governed gate.

Real components on a copy of the small lakehouse: the "atelectasis read as pneumonia" noise is
imported, clinicians correct mislabelled cases through ``services.feedback.correct`` under the
shipped pack (proposals below its auto-apply confidence are queued), and a radiologist approves
and rejects queued proposals and a correction held for a second reviewer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.errors import SageError
from services import feedback
from services.base import Caller
from services.errors import kind_of
from tools.resources import Resources

sys.path.insert(0, str(Path(__file__).parents[1] / "lakehouse"))  # feedback_setup
from feedback_setup import mislabel_atelectasis  # noqa: E402

DR_A = Caller(user="dr-a", role="clinician", purpose="treatment")
DR_B = Caller(user="dr-b", role="radiologist", purpose="quality")
RESEARCHER = Caller(user="res-1", role="researcher", purpose="research")
PHI_REASON = "discussed with Mr. John Smith on 617-555-0123: apical pneumothorax"


def _labels(resources: Resources, case_id: str) -> dict[str, str]:
    return dict(resources.store.retrieve([case_id])[0].payload.get("labels") or {})


def _queue_proposals(resources: Resources, want: int) -> list[feedback.Proposal]:
    """Correct mislabelled cases (pneumonia -> atelectasis) as dr-a until ``want`` proposals are queued."""
    mislabelled = mislabel_atelectasis(resources.settings, resources.audit)
    for case_id in mislabelled:
        if _labels(resources, case_id).get("atelectasis") != "absent":
            continue  # already fixed by an earlier correction's proposal
        changes = [{"finding": "pneumonia", "old": "present", "new": "absent"}, {"finding": "atelectasis", "old": "absent", "new": "present"}]
        result = feedback.correct(resources, DR_A, feedback.CorrectionRequest.parse({"case_id": case_id, "changes": changes, "reason": "volume loss, not infection"}))
        assert result.status == "applied", result.reasons
        queued = feedback.pending(resources, DR_B).proposals
        if len(queued) >= want:
            return queued
    raise AssertionError(f"fewer than {want} proposals queued under the shipped pack on the small lakehouse")


def test_queued_proposals_are_approved_and_rejected_through_the_service(resources: Resources) -> None:
    queued = _queue_proposals(resources, 2)
    assert all(p.status == "queued" and p.confidence < 0.85 for p in queued)  # the pack's auto_apply_confidence
    first, second = queued[0], next(p for p in queued[1:] if p.case_id != queued[0].case_id or p.finding != queued[0].finding)

    with pytest.raises(SageError) as denied:
        feedback.pending(resources, RESEARCHER)
    assert kind_of(denied.value) == "denied"
    with pytest.raises(SageError) as denied:
        feedback.decide(resources, RESEARCHER, first.proposal_id, True)
    assert kind_of(denied.value) == "denied"
    assert _labels(resources, first.case_id).get(first.finding) == first.old

    approved = feedback.decide(resources, DR_B, first.proposal_id, True, note="agree")
    assert (approved.kind, approved.approved, approved.case_id, approved.reviewer) == ("proposal", True, first.case_id, "dr-b")
    assert _labels(resources, first.case_id)[first.finding] == first.new
    assert resources.store.retrieve([first.case_id])[0].payload["label_version"] == approved.label_version
    history = feedback.history(resources, DR_B, first.case_id)
    assert history[-1].kind == "propagation" and history[-1].actor == "dr-b" and history[-1].parent_event_id == first.event_id

    before = _labels(resources, second.case_id)
    rejected = feedback.decide(resources, DR_B, second.proposal_id, False, note="report says otherwise")
    assert not rejected.approved and rejected.label_version is None and _labels(resources, second.case_id) == before
    left = {p.proposal_id for p in feedback.pending(resources, DR_B).proposals}
    assert first.proposal_id not in left and second.proposal_id not in left

    for item in (first.proposal_id, second.proposal_id):
        with pytest.raises(SageError, match="not queued") as again:
            feedback.decide(resources, DR_B, item, True)
        assert kind_of(again.value) == "invalid"
    with pytest.raises(SageError) as missing:
        feedback.decide(resources, DR_B, "fb-0000000000000000.p1", True)
    assert kind_of(missing.value) == "not_found"
    with pytest.raises(SageError) as malformed:
        feedback.decide(resources, DR_B, "fb/../x", True)
    assert kind_of(malformed.value) == "invalid"

    decisions = [(e.actor, e.decision) for e in resources.audit.entries() if e.action == "feedback:proposal"]
    assert ("dr-b", "ok") in decisions and ("dr-b", "deny") in decisions
    assert any(e.action == "feedback:pending" and e.actor == "dr-b" for e in resources.audit.entries())


def test_a_held_correction_is_listed_de_identified_and_approved_by_a_second_reviewer(resources: Resources) -> None:
    case_id = next(p.case_id for p in resources.store.scroll(limit=100) if "pneumothorax" not in (p.payload.get("labels") or {}))
    change = [{"finding": "pneumothorax", "old": None, "new": "present"}]
    held = feedback.correct(resources, DR_A, feedback.CorrectionRequest.parse({"case_id": case_id, "changes": change, "reason": PHI_REASON, "run_id": "run-s1"}))
    assert held.status == "needs_review" and held.event_id.startswith("fb-")

    waiting = feedback.pending(resources, DR_B, case_id)
    assert [c.event_id for c in waiting.corrections] == [held.event_id] and not waiting.proposals
    listed = waiting.corrections[0]
    assert listed.user == "dr-a" and listed.run_id == "run-s1" and "pneumothorax" in listed.reason
    assert "617-555-0123" not in listed.reason and "John Smith" not in listed.reason and waiting.redacted

    with pytest.raises(SageError, match="another user") as refused:
        feedback.decide(resources, DR_A, held.event_id, True)
    assert kind_of(refused.value) == "denied" and "pneumothorax" not in _labels(resources, case_id)

    outcome = feedback.decide(resources, DR_B, held.event_id, True)
    assert outcome.kind == "correction" and outcome.result is not None and outcome.result.status == "applied"
    assert _labels(resources, case_id)["pneumothorax"] == "present"
    last = feedback.history(resources, DR_B, case_id)[-1]
    assert (last.event_id, last.actor, last.reviewer) == (held.event_id, "dr-a", "dr-b")
    assert "pneumothorax" in (last.reason or "") and "617-555-0123" not in (last.reason or "") and "John Smith" not in (last.reason or "")  # history de-identifies too
    assert feedback.pending(resources, DR_B, case_id).corrections == []
    assert all("617-555-0123" not in str(e.details) for e in resources.audit.entries())
