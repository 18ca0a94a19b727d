"""Retrieve-then-edit on hand-made candidates (real labeler, a real planner fitted on a small corpus)."""

from __future__ import annotations

import pytest

from agents.tasks.report_edit import Candidate, abnormal_positives, edit_impression, required_labels
from agents.tasks.report_plan import ImpressionPlanner, Plan, fit_planner

FINDINGS = "The heart is mildly enlarged. Small right pleural effusion. No pneumothorax."


@pytest.fixture(scope="module")
def planner() -> ImpressionPlanner:
    corpus = [("A", "Heart size normal. Lungs clear.", "No acute disease."),
              ("B", "The heart is enlarged. Small right pleural effusion.", "Cardiomegaly with small right pleural effusion."),
              ("C", "Heart enlarged.", "Cardiomegaly. Left lower lobe atelectasis.")]
    return fit_planner(corpus)


def test_an_abnormal_query_restates_its_own_sentences_with_the_house_closing(planner: ImpressionPlanner) -> None:
    cands = [
        Candidate(case_id="A", findings="Heart size normal. Lungs clear.", impression="No acute disease."),
        Candidate(case_id="B", findings="The heart is enlarged. Small left pleural effusion.", impression="Cardiomegaly with small left pleural effusion. No acute disease."),
    ]
    out = edit_impression(FINDINGS, Plan(target={"cardiomegaly", "pleural_effusion"}), cands, planner)
    # The label-matched prior case gives only its closing; its finding sentence (the other side) is never copied.
    assert out.base_case_id == "B" and out.removed == ["Cardiomegaly with small left pleural effusion."] and not out.added
    # An enlarged heart is named as impressions name it, with its severity.
    assert out.restated == ["Mild cardiomegaly.", "Small right pleural effusion."]
    assert out.impression == "Mild cardiomegaly. Small right pleural effusion. No acute disease."


def test_filler_is_shorn_and_a_finding_no_clean_sentence_states_gets_the_house_phrase(planner: ImpressionPlanner) -> None:
    cands = [Candidate(case_id="C", findings="Heart enlarged.", impression="Cardiomegaly. Left lower lobe atelectasis.")]
    findings = "There is a small right pleural effusion. Heart enlarged with basilar opacity."
    out = edit_impression(findings, Plan(target={"cardiomegaly", "pleural_effusion"}), cands, planner)
    # The second sentence also states an opacity the plan leaves out, so cardiomegaly gets the house phrase.
    assert out.restated == ["Small right pleural effusion."] and out.added == ["Cardiomegaly."]
    assert out.removed == ["Cardiomegaly.", "Left lower lobe atelectasis."]
    assert abnormal_positives(out.impression) == {"cardiomegaly", "pleural_effusion"}


def test_inferred_findings_are_stated_hedged_not_copied(planner: ImpressionPlanner) -> None:
    # The candidate states pneumonia with another patient's location; the query's text never says pneumonia.
    cands = [Candidate(case_id="D", findings="Right basilar opacity.", impression="Right lower lobe pneumonia.")]
    plan = Plan(target={"lung_opacity", "pneumonia"}, inferred={"pneumonia"})
    out = edit_impression("Patchy basilar airspace opacity.", plan, cands, planner)
    assert out.impression == "Patchy basilar airspace opacity. Possible pneumonia." and out.removed == ["Right lower lobe pneumonia."]
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


def test_a_closing_naming_another_side_is_not_copied(planner: ImpressionPlanner) -> None:
    cands = [Candidate(case_id="E", findings="Left basilar opacity.", impression="Left lower lobe atelectasis. No left pleural effusion.")]
    out = edit_impression("Right upper lobe atelectasis.", Plan(target={"atelectasis"}), cands, planner)
    assert out.impression == "Right upper lobe atelectasis." and out.removed == ["Left lower lobe atelectasis.", "No left pleural effusion."]
    same_side = edit_impression("Left basilar atelectasis, lower lobe.", Plan(target={"atelectasis"}), cands, planner)
    assert same_side.impression == "Left basilar atelectasis, lower lobe. No left pleural effusion."


def test_a_possible_finding_is_not_made_certain(planner: ImpressionPlanner) -> None:
    findings = "Possible small left pleural effusion. Heart enlarged."
    plan = planner.plan(findings)
    assert plan.target == {"pleural_effusion", "cardiomegaly"} and plan.uncertain == {"pleural_effusion"}
    cands = [Candidate(case_id="F", findings="Left effusion. Large heart.", impression="Cardiomegaly. Left pleural effusion.")]
    assert edit_impression(findings, plan, cands, planner).impression == "Possible small left pleural effusion. Cardiomegaly."
    # Where the plan holds a finding as possible but the sentence states it as certain, the hedged house phrase replaces it.
    stated = edit_impression("Left pleural effusion.", Plan(target={"pleural_effusion"}, uncertain={"pleural_effusion"}), cands, planner)
    assert stated.impression == "Possible small pleural effusion." and not stated.restated


def test_an_enlarged_heart_in_other_words_keeps_only_its_own_severity(planner: ImpressionPlanner) -> None:
    plan = Plan(target={"cardiomegaly"})
    assert edit_impression("Heart size is moderately enlarged.", plan, [], planner).impression == "Moderate cardiomegaly."
    # "mild" describes the aorta here, not the heart.
    assert edit_impression("The heart is enlarged with mild tortuosity of the aorta.", plan, [], planner).impression == "Cardiomegaly."
    assert edit_impression("Stable cardiomegaly.", plan, [], planner).impression == "Stable cardiomegaly."  # already the term: as written
