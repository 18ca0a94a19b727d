"""Training examples from the raw tier: split discipline, de-identification, abnormal oversampling."""

from __future__ import annotations

from types import SimpleNamespace

from core.settings import Settings
from lakehouse.datasets import impression_examples, label_agreement
from lakehouse.raw.schema import split_for
from models.prompts import impression_messages


class _RecordingRedactor:
    """Marks every text it saw, so the test can check what reached the examples went through it."""

    def __init__(self) -> None:
        self.seen = 0

    def redact_batch(self, texts: list[str]) -> list[SimpleNamespace]:
        texts = list(texts)
        self.seen += len(texts)
        return [SimpleNamespace(text=f"<deid>{t}") for t in texts]


def test_train_examples_exclude_test_split_and_oversample_abnormal(small_lakehouse: Settings) -> None:
    examples, info = impression_examples(small_lakehouse, "train", limit=20, deidentify=False, abnormal_fraction=0.6)
    assert len(examples) == 20
    assert all(split_for(ex.id) == "train" for ex in examples)
    assert info["split"] == "train" and info["source"] == "lakehouse:reports" and "reports@v" in info["version"]
    assert info["n_abnormal"] >= 12 and info["abnormal_fraction"] >= 0.6
    assert examples[0].messages[0] == impression_messages("x")[0]  # the shared system prompt
    assert examples[0].messages[1]["content"].endswith("Impression:")


def test_test_split_is_only_test_reports(small_lakehouse: Settings) -> None:
    examples, info = impression_examples(small_lakehouse, "test", limit=10, deidentify=False)
    assert examples and all(split_for(ex.id) == "test" for ex in examples)
    assert info["split"] == "test" and info["abnormal_repeats"] == 0


def test_every_training_text_goes_through_the_redactor(small_lakehouse: Settings) -> None:
    redactor = _RecordingRedactor()
    examples, info = impression_examples(small_lakehouse, "train", limit=5, redactor=redactor)
    assert info["deidentified"] and redactor.seen == 15  # findings, indication, impression of each
    assert all(ex.target.startswith("<deid>") and "Findings: <deid>" in ex.messages[1]["content"] for ex in examples)


def test_label_agreement_scores_clinical_content() -> None:
    same = label_agreement(["Cardiomegaly. Small left pleural effusion."], ["Cardiomegaly with small left pleural effusion."])
    assert same == {"label_agreement": 1.0, "positive_f1": 1.0, "abnormal_agreement": 1.0}
    missed = label_agreement(["No acute cardiopulmonary abnormality."], ["Right lower lobe pneumonia."])
    assert missed["abnormal_agreement"] == 0.0 and missed["positive_f1"] == 0.0 and missed["label_agreement"] < 1.0


def test_rag_examples_show_train_cases_as_the_report_task_would(small_lakehouse: Settings) -> None:
    examples, info = impression_examples(small_lakehouse, "train", limit=40, rag_fraction=0.5, rag_k=2)
    with_priors = [ex for ex in examples if "Similar prior cases:" in ex.messages[-1]["content"]]
    assert info["rag_fraction"] == round(len(with_priors) / len(examples), 3) and 0.3 <= info["rag_fraction"] <= 0.5
    for ex in with_priors:
        assert ex.messages[-1]["content"].count("Impression:") == len(ex.prior_ids) + 1, "prior cases, then the case itself"
        assert 1 <= len(ex.prior_ids) <= 2 and ex.id not in ex.prior_ids, "a case never sees itself"
        assert all(split_for(i) == "train" for i in [ex.id, *ex.prior_ids])
    bare, bare_info = impression_examples(small_lakehouse, "train", limit=40)
    assert bare_info["rag_fraction"] == 0.0 and not any("Similar prior cases" in ex.messages[-1]["content"] for ex in bare)
