"""Metric code on hand-computed examples."""

from __future__ import annotations

import pytest

from evals.metrics import bleu4, bootstrap, finding_counts, label_scores, positive, rouge_l


def test_rouge_l_by_hand() -> None:
    # LCS("no acute disease", "no acute cardiopulmonary disease") = 3 -> P = 3/3, R = 3/4, F = 6/7.
    assert rouge_l("No acute disease.", "No acute cardiopulmonary disease.") == pytest.approx(6 / 7)
    assert rouge_l("cardiomegaly", "no acute disease") == 0.0
    assert rouge_l("", "") == 1.0 and rouge_l("", "x") == 0.0


def test_bleu4_identical_and_disjoint() -> None:
    assert bleu4(["the heart is normal in size today"], ["the heart is normal in size today"]) == pytest.approx(1.0)
    assert bleu4(["alpha beta gamma delta"], ["one two three four"]) == pytest.approx(0.0)


def test_positive_reads_present_and_uncertain() -> None:
    assert positive({"cardiomegaly": "present", "edema": "uncertain", "pneumothorax": "absent", "no_finding": "absent"}) == {"cardiomegaly", "edema"}


def test_label_scores_by_hand() -> None:
    pred = [{"cardiomegaly"}, {"cardiomegaly", "edema"}, {"no_finding"}]
    ref = [{"cardiomegaly"}, {"edema", "atelectasis"}, {"no_finding"}]
    counts = finding_counts(pred, ref)
    assert (counts["cardiomegaly"].tp, counts["cardiomegaly"].fp) == (1, 1)
    assert (counts["atelectasis"].fn, counts["edema"].tp) == (1, 1)
    s = label_scores(pred, ref)
    # tp = 3 (cardiomegaly, edema, no_finding), fp = 1, fn = 1 -> micro 6/8.
    assert s.micro_f1 == pytest.approx(0.75)
    # cardiomegaly 2/3, edema 1, no_finding 1, atelectasis 0, the other ten 0 -> macro (2/3 + 2) / 14.
    assert s.macro_f1 == pytest.approx(round((2 / 3 + 2) / 14, 4))
    # five common: cardiomegaly tp1 fp1, edema tp1, atelectasis fn1 -> 4 / 6.
    assert s.f1_5 == pytest.approx(round(4 / 6, 4))
    assert s.support["atelectasis"] == 1 and s.per_finding["edema"] == 1.0


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    values = [0.0, 1.0] * 50

    def mean(idx):  # noqa: ANN001, ANN202
        idx = list(idx)
        return sum(values[i] for i in idx) / len(idx)

    a, b = bootstrap(mean, len(values), samples=300, seed=1), bootstrap(mean, len(values), samples=300, seed=1)
    assert a == b and a.value == 0.5 and a.low < 0.5 < a.high and a.high - a.low < 0.3
