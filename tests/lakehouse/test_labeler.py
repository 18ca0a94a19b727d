"""The rule labeler on hand-written sentences and against the Indiana MeSH codes."""

from __future__ import annotations

import time

import pytest

from evals.labeler_agreement import agreement, mesh_findings
from lakehouse.findings import FINDING_KEYS
from lakehouse.labeler import LABELER_NAME, label_report, label_text, positive_sentences

CASES = [
    # plain positives
    ("Cardiomegaly.", "cardiomegaly", "present"),
    ("The heart is mildly enlarged.", "cardiomegaly", "present"),
    ("Heart size is enlarged.", "cardiomegaly", "present"),
    ("Enlarged cardiac silhouette.", "cardiomegaly", "present"),
    ("The cardiac silhouette is moderately enlarged.", "cardiomegaly", "present"),
    ("Widened mediastinum.", "enlarged_cardiomediastinum", "present"),
    ("Small right pleural effusion.", "pleural_effusion", "present"),
    ("Bilateral effusions.", "pleural_effusion", "present"),
    ("Blunting of the left costophrenic angle.", "pleural_effusion", "present"),
    ("Patchy opacity in the right lower lobe.", "lung_opacity", "present"),
    ("Bibasilar infiltrates.", "lung_opacity", "present"),
    ("Focal airspace disease in the lingula.", "lung_opacity", "present"),
    ("Subsegmental atelectasis at the left base.", "atelectasis", "present"),
    ("Atelectatic changes in the right base.", "atelectasis", "present"),
    ("Mild pulmonary vascular congestion.", "edema", "present"),
    ("Interstitial edema.", "edema", "present"),
    ("Right lower lobe consolidation.", "consolidation", "present"),
    ("Findings consistent with pneumonia.", "pneumonia", "present"),
    ("Small left apical pneumothorax.", "pneumothorax", "present"),
    ("Healed right rib fracture.", "fracture", "present"),
    ("Pulmonary nodule in the right upper lobe.", "lung_lesion", "present"),
    ("Large left hilar mass.", "lung_lesion", "present"),
    ("Left apical pleural thickening.", "pleural_other", "present"),
    ("Left-sided pacemaker with leads in the right ventricle.", "support_devices", "present"),
    ("Median sternotomy wires.", "support_devices", "present"),
    ("Right IJ central venous catheter with tip in the SVC.", "support_devices", "present"),
    ("Endotracheal tube 4 cm above the carina.", "support_devices", "present"),
    ("Right chest port in place.", "support_devices", "present"),
    # negation
    ("No pneumothorax.", "pneumothorax", "absent"),
    ("No pneumothorax or pleural effusion.", "pleural_effusion", "absent"),
    ("No pneumothorax or pleural effusion.", "pneumothorax", "absent"),
    ("No focal airspace consolidation, pleural effusion, or pneumothorax.", "pneumothorax", "absent"),
    ("Lungs are clear without focal consolidation.", "consolidation", "absent"),
    ("Negative for pneumonia.", "pneumonia", "absent"),
    ("The lungs are free of infiltrate.", "lung_opacity", "absent"),
    ("Lungs are clear of focal airspace disease.", "lung_opacity", "absent"),
    ("No evidence of pulmonary edema.", "edema", "absent"),
    ("The previously seen effusion has resolved.", "pleural_effusion", "absent"),
    ("Resolved left lower lobe pneumonia.", "pneumonia", "absent"),
    ("There are no XXXX of a pleural effusion.", "pleural_effusion", "absent"),
    ("Pneumothorax is not seen.", "pneumothorax", "absent"),
    ("No acute fracture.", "fracture", "absent"),
    ("Heart size is normal.", "cardiomegaly", "absent"),
    ("Heart size normal.", "cardiomegaly", "absent"),
    ("The heart is not enlarged.", "cardiomegaly", "absent"),
    ("Normal heart size.", "cardiomegaly", "absent"),
    ("The heart is normal in size.", "cardiomegaly", "absent"),
    ("Heart size is upper limits of normal.", "cardiomegaly", "absent"),
    ("The cardiomediastinal silhouette is within normal limits.", "enlarged_cardiomediastinum", "absent"),
    ("Heart size and mediastinal contour are within normal limits.", "enlarged_cardiomediastinum", "absent"),
    # scope ends at but/however/clause boundaries
    ("No pneumothorax, but there is a small left effusion.", "pleural_effusion", "present"),
    ("No pneumothorax; small left effusion.", "pleural_effusion", "present"),
    ("No consolidation, however there is mild cardiomegaly.", "cardiomegaly", "present"),
    ("Cardiomegaly without pulmonary edema.", "cardiomegaly", "present"),
    ("Cardiomegaly without pulmonary edema.", "edema", "absent"),
    # uncertainty
    ("Possible small left effusion.", "pleural_effusion", "uncertain"),
    ("Cannot exclude pneumonia.", "pneumonia", "uncertain"),
    ("Pneumonia cannot be excluded.", "pneumonia", "uncertain"),
    ("Early pneumonia is not excluded.", "pneumonia", "uncertain"),
    ("Findings may represent atelectasis.", "atelectasis", "uncertain"),
    ("Opacity likely atelectasis.", "atelectasis", "uncertain"),
    ("Findings suggest mild edema.", "edema", "uncertain"),
    ("Questionable left base opacity.", "lung_opacity", "uncertain"),
    ("Atelectasis versus pneumonia.", "atelectasis", "uncertain"),
    ("Atelectasis versus pneumonia.", "pneumonia", "uncertain"),
    ("Opacity concerning for pneumonia.", "pneumonia", "uncertain"),
    ("Pneumonia?", "pneumonia", "uncertain"),
    ("Borderline heart size.", "cardiomegaly", "uncertain"),
    ("Right basilar opacity, possibly atelectasis.", "lung_opacity", "present"),
    ("Right basilar opacity, possibly atelectasis.", "atelectasis", "uncertain"),
    # double negation and stability
    ("No change in cardiomegaly.", "cardiomegaly", "present"),
    ("No significant interval change in the left effusion.", "pleural_effusion", "present"),
    ("Stable cardiomegaly.", "cardiomegaly", "present"),
    ("Unchanged small right effusion.", "pleural_effusion", "present"),
    ("Cardiomegaly is not significantly changed.", "cardiomegaly", "present"),
    # granulomas and calcified nodules are not lung lesions (CheXpert convention)
    ("Stable calcified granuloma.", "lung_lesion", None),
    ("Calcified nodules in the right upper lobe.", "lung_lesion", None),
    ("Lytic lesion in the humerus.", "lung_lesion", None),
    ("Pericardial effusion.", "pleural_effusion", None),
    ("XXXX B-lines are noted.", "support_devices", None),
    ("The trachea is midline.", "support_devices", None),
]


@pytest.mark.parametrize(("text", "finding", "state"), CASES)
def test_sentence_labels(text: str, finding: str, state: str | None) -> None:
    assert label_text(text).get(finding) == state, label_text(text)


def test_multi_sentence_aggregation_present_beats_uncertain_beats_absent() -> None:
    text = "No pleural effusion. Possible small left effusion. Interval increase in the right effusion."
    assert label_text(text)["pleural_effusion"] == "present"
    assert label_text("No pleural effusion. Possible small left effusion.")["pleural_effusion"] == "uncertain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Normal chest x-XXXX.", "present"),
        ("Heart size is normal. No pneumothorax or pleural effusion.", "present"),
        ("Stable calcified granuloma. No acute disease.", "present"),
        ("Sternotomy wires. Lungs are clear.", "present"),  # devices do not make a study abnormal
        ("Mild cardiomegaly.", "absent"),
        ("Possible small left effusion.", "absent"),  # uncertain findings do
    ],
)
def test_no_finding(text: str, expected: str) -> None:
    assert label_text(text)["no_finding"] == expected


def test_label_report_reads_both_sections_and_only_known_keys() -> None:
    labels = label_report("Heart size is normal. Small left effusion.", "Left effusion; no pneumothorax.")
    assert labels["pleural_effusion"] == "present" and labels["pneumothorax"] == "absent" and labels["cardiomegaly"] == "absent"
    assert set(labels) <= set(FINDING_KEYS)
    assert label_report("", "Cardiomegaly.")["cardiomegaly"] == "present"
    assert LABELER_NAME == "sage-rules-v1"


def test_positive_sentences_keep_only_abnormal_content() -> None:
    text = "The heart size is normal. No pneumothorax. Possible left basilar atelectasis. Mild degenerative change.\nRight PICC line in place."
    assert positive_sentences(text) == ["Possible left basilar atelectasis.", "Right PICC line in place."]
    assert positive_sentences("No acute cardiopulmonary abnormality. Lungs are clear.") == []


def test_mesh_mapping() -> None:
    assert mesh_findings(["Cardiomegaly/mild", "Pulmonary Atelectasis/base/left", "normal", "Calcified Granuloma"]) == {"cardiomegaly", "atelectasis", "no_finding"}


@pytest.fixture(scope="module")
def indiana_pairs() -> list:
    from lakehouse.ingest.indiana import read_indiana

    reports = list(read_indiana(limit=300))
    started = time.perf_counter()
    labels = [label_report(r.findings, r.impression) for r in reports]
    assert time.perf_counter() - started < 5.0  # ~0.15 s measured; generous for a loaded machine
    return [(lab, mesh_findings(r.mesh)) for lab, r in zip(labels, reports, strict=True)]


def test_agreement_with_indiana_mesh(indiana_pairs: list) -> None:
    # Measured on the first 300 reports: cardiomegaly kappa 0.95, lung_opacity 0.89, atelectasis 1.0,
    # pleural_effusion 0.93, support_devices 0.82, no_finding recall vs MeSH "normal" 0.97.
    assert len(indiana_pairs) == 300
    result = agreement(indiana_pairs)
    for key, min_kappa in {"cardiomegaly": 0.85, "lung_opacity": 0.8, "atelectasis": 0.9, "pleural_effusion": 0.85, "support_devices": 0.7}.items():
        assert result[key]["kappa"] >= min_kappa, (key, result[key])
    # MeSH "normal" reports are (almost) never given a finding by the labeler.
    assert result["no_finding"]["recall"] >= 0.95
