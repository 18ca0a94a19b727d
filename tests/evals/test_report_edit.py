"""Retrieve-then-edit on hand-made candidates (real labeler)."""

from __future__ import annotations

from agents.tasks.report_edit import (
    Candidate,
    abnormal_positives,
    edit_impression,
    impression_findings,
    required_labels,
)

FINDINGS = "The heart is enlarged. Small right pleural effusion. No pneumothorax."


def test_exact_label_match_is_used_unchanged() -> None:
    cands = [
        Candidate(case_id="A", findings="Heart size normal. Lungs clear.", impression="No acute disease."),
        Candidate(case_id="B", findings="The heart is enlarged. Small right pleural effusion.", impression="Cardiomegaly with small right pleural effusion."),
    ]
    out = edit_impression(FINDINGS, {"cardiomegaly", "pleural_effusion"}, cands)
    assert out.base_case_id == "B" and out.impression == "Cardiomegaly with small right pleural effusion." and not out.added


def test_repair_removes_foreign_findings_and_adds_missing_ones() -> None:
    cands = [Candidate(case_id="C", findings="Heart enlarged.", impression="Cardiomegaly. Left lower lobe atelectasis.")]
    out = edit_impression(FINDINGS, {"cardiomegaly", "pleural_effusion"}, cands)
    assert out.removed == ["Left lower lobe atelectasis."] and out.added == ["Small pleural effusion."]
    assert abnormal_positives(out.impression) == {"cardiomegaly", "pleural_effusion"}


def test_normal_target_and_empty_pool() -> None:
    assert edit_impression("Lungs clear.", set(), []).impression == "No acute cardiopulmonary abnormality."
    assert required_labels(set(), {}) == {"no_finding": "present"}
    assert required_labels({"edema", "cardiomegaly"}, {"edema": "uncertain", "cardiomegaly": "present"}) == {"cardiomegaly": "present"}


def test_vote_drops_findings_neighbours_leave_out() -> None:
    labels = {"cardiomegaly": "present", "support_devices": "present", "no_finding": "absent"}
    left_out = [Candidate(case_id=f"N{i}", findings="Pacemaker leads in place. Heart enlarged.", impression="Cardiomegaly.") for i in range(5)]
    assert impression_findings(labels, left_out) == {"cardiomegaly"}
    stated = [Candidate(case_id=f"S{i}", findings="Pacemaker leads in place.", impression="Pacemaker in place.") for i in range(5)]
    assert impression_findings(labels, stated) == {"cardiomegaly", "support_devices"}
