"""Retrieve-then-edit on hand-made candidates (real labeler, a real planner fitted on a small corpus)."""

from __future__ import annotations

import pytest

from agents.tasks.report_edit import Candidate, abnormal_positives, edit_impression, required_labels
from agents.tasks.report_plan import ImpressionPlanner, Plan, fit_planner

FINDINGS = "The heart is enlarged. Small right pleural effusion. No pneumothorax."


@pytest.fixture(scope="module")
def planner() -> ImpressionPlanner:
    corpus = [("A", "Heart size normal. Lungs clear.", "No acute disease."),
              ("B", "The heart is enlarged. Small right pleural effusion.", "Cardiomegaly with small right pleural effusion."),
              ("C", "Heart enlarged.", "Cardiomegaly. Left lower lobe atelectasis.")]
    return fit_planner(corpus)


def test_exact_label_match_is_used_unchanged(planner: ImpressionPlanner) -> None:
    cands = [
        Candidate(case_id="A", findings="Heart size normal. Lungs clear.", impression="No acute disease."),
        Candidate(case_id="B", findings="The heart is enlarged. Small right pleural effusion.", impression="Cardiomegaly with small right pleural effusion."),
    ]
    out = edit_impression(FINDINGS, Plan(target={"cardiomegaly", "pleural_effusion"}), cands, planner)
    assert out.base_case_id == "B" and out.impression == "Cardiomegaly with small right pleural effusion." and not out.added


def test_repair_removes_foreign_findings_and_adds_missing_ones(planner: ImpressionPlanner) -> None:
    cands = [Candidate(case_id="C", findings="Heart enlarged.", impression="Cardiomegaly. Left lower lobe atelectasis.")]
    out = edit_impression(FINDINGS, Plan(target={"cardiomegaly", "pleural_effusion"}), cands, planner)
    assert out.removed == ["Left lower lobe atelectasis."] and out.added == ["Small pleural effusion."]
    assert abnormal_positives(out.impression) == {"cardiomegaly", "pleural_effusion"}


def test_inferred_findings_are_stated_hedged_not_copied(planner: ImpressionPlanner) -> None:
    # The candidate states pneumonia with another patient's location; the query's text never says pneumonia.
    cands = [Candidate(case_id="D", findings="Right basilar opacity.", impression="Right lower lobe pneumonia.")]
    plan = Plan(target={"lung_opacity", "pneumonia"}, inferred={"pneumonia"})
    out = edit_impression("Patchy basilar airspace opacity.", plan, cands, planner)
    assert "Right lower lobe pneumonia." in out.removed and "Possible pneumonia." in out.added
    assert out.inferred == ["pneumonia"] and abnormal_positives(out.impression) == {"lung_opacity", "pneumonia"}


def test_normal_target_and_empty_pool(planner: ImpressionPlanner) -> None:
    assert edit_impression("Lungs clear.", Plan(target=set()), [], planner).impression == "No acute cardiopulmonary abnormality."
    assert required_labels(set(), {}) == {"no_finding": "present"}
    assert required_labels({"edema", "cardiomegaly"}, {"edema": "uncertain", "cardiomegaly": "present"}) == {"cardiomegaly": "present"}


def test_every_phrase_states_exactly_its_finding() -> None:
    """An added statement must say what it is added for, to the labeler too (the draft is labelled again)."""
    from agents.tasks.report_edit import HOUSE_PHRASES, hedged
    from lakehouse.labeler import label_text

    for finding, phrase in HOUSE_PHRASES.items():
        assert abnormal_positives(phrase) == {finding}, phrase
        assert label_text(hedged(finding))[finding] == "uncertain", hedged(finding)


def test_another_patients_side_is_not_copied(planner: ImpressionPlanner) -> None:
    cands = [Candidate(case_id="E", findings="Left basilar opacity.", impression="Left lower lobe atelectasis. No acute disease.")]
    out = edit_impression("Right upper lobe atelectasis.", Plan(target={"atelectasis"}), cands, planner)
    assert out.removed == ["Left lower lobe atelectasis."] and out.impression == "Atelectasis. No acute disease."
    same_side = edit_impression("Left basilar atelectasis, lower lobe.", Plan(target={"atelectasis"}), cands, planner)
    assert same_side.impression == "Left lower lobe atelectasis. No acute disease." and not same_side.removed


def test_a_possible_finding_is_not_made_certain(planner: ImpressionPlanner) -> None:
    findings = "Possible small left pleural effusion. Heart enlarged."
    plan = planner.plan(findings)
    assert plan.target == {"pleural_effusion", "cardiomegaly"} and plan.uncertain == {"pleural_effusion"}
    cands = [Candidate(case_id="F", findings="Left effusion. Large heart.", impression="Cardiomegaly. Left pleural effusion.")]
    out = edit_impression(findings, plan, cands, planner)
    assert out.removed == ["Left pleural effusion."] and out.added == ["Possible small pleural effusion."]
    assert out.impression == "Possible small pleural effusion. Cardiomegaly."
