"""Pieces of the co-evolution evaluation: label noise, the simulated clinician, drafts and metrics.

Truth is the label set the project labeler read off each report at ingest (what the corpus
holds before noise). Noise flips a known fraction of the stated labels of a few findings in the
train split (present -> absent, and as many absent -> present, so prevalence is unchanged).
The simulated clinician runs report drafts on train cases, looks at the labels of the cases each
draft cites, and corrects every one that differs from the truth, exactly as a reviewer would
who knows the answer. Held-out test cases are never corrected nor used to choose any setting.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.files import copy_tree
from core.settings import Settings
from lakehouse.findings import FindingState
from lakehouse.semantic.base import SearchFilter, SemanticStore
from policies.feedback_rules import FeedbackRules

Truth = dict[str, dict[str, FindingState]]
FINDINGS = ("cardiomegaly", "pleural_effusion", "atelectasis", "edema", "lung_opacity")
"""The findings the noise flips and the metrics score."""


def train_truth(store: SemanticStore) -> Truth:
    """Case -> labels of every train case, as ingested (before any noise)."""
    return {p.case_id: dict(p.payload.get("labels") or {}) for p in store.scroll(SearchFilter(split="train"), limit=1_000_000)}


def noise_plan(truth: Truth, findings: Sequence[str], fraction: float, seed: int) -> dict[str, dict[str, FindingState | None]]:
    """Case -> finding -> flipped state: ``fraction`` of each finding's present labels, and as many absent ones."""
    rng = random.Random(seed)
    flips: dict[str, dict[str, FindingState | None]] = {}
    for finding in findings:
        present = sorted(c for c, labels in truth.items() if labels.get(finding) == "present")
        absent = sorted(c for c, labels in truth.items() if labels.get(finding) == "absent")
        n = round(fraction * len(present))
        for case in rng.sample(present, n):
            flips.setdefault(case, {})[finding] = "absent"
        for case in rng.sample(absent, min(n, len(absent))):
            flips.setdefault(case, {})[finding] = "present"
    return flips


def wrong_labels(store: SemanticStore, truth: Truth, findings: Sequence[str], cases: Sequence[str] | None = None) -> dict[str, dict[str, tuple[FindingState | None, FindingState]]]:
    """Case -> finding -> (current state, true state) for every evaluated finding that differs from the truth."""
    ids = sorted(truth) if cases is None else [c for c in cases if c in truth]
    out: dict[str, dict[str, tuple[FindingState | None, FindingState]]] = {}
    for start in range(0, len(ids), 2000):
        for point in store.retrieve(ids[start : start + 2000]):
            labels = point.payload.get("labels") or {}
            for f in findings:
                true = truth[point.case_id].get(f)
                if true is not None and labels.get(f) != true:
                    out.setdefault(point.case_id, {})[f] = (labels.get(f), true)
    return out


def label_accuracy(store: SemanticStore, truth: Truth, findings: Sequence[str]) -> tuple[float, int]:
    """Fraction of the (train case, evaluated finding) labels stated in the truth that the corpus holds correctly."""
    total = sum(1 for labels in truth.values() for f in findings if f in labels)
    wrong = sum(len(v) for v in wrong_labels(store, truth, findings).values())
    return (1 - wrong / total if total else 1.0), total


def query_pool(truth: Truth, findings: Sequence[str], seed: int) -> list[str]:
    """Train cases the clinician reports on: those whose truth states one of the evaluated findings present, shuffled."""
    pool = sorted(c for c, labels in truth.items() if any(labels.get(f) == "present" for f in findings))
    random.Random(seed + 1).shuffle(pool)
    return pool


def draft_positives(store: SemanticStore, embedder: Any, cases: Sequence[dict[str, Any]], abnormal: Sequence[str], mode: str = "rag",
                    planner: Any = None) -> list[set[str]]:
    """Drafts of test cases from the train split, as the positive findings the labeler reads in them.

    ``rag``: the report task's retrieve-then-edit draft (the impression planner picks the
    findings to state from the query's text, then the consensus impression among cases whose
    labels carry them is edited; no model), so corrected labels change which cases are edited.
    ``planner``: fitted by the caller on the arm's current labels (noise and corrections included).
    ``retrieval-only``: the nearest train case's impression under label-aware ranking.
    """
    from lakehouse.labeler import label_text

    texts, ids, train = [c["findings"] for c in cases], [c["case_id"] for c in cases], SearchFilter(split="train")
    if mode == "rag":
        from agents.tasks.batch import edit_drafts

        _, drafts = edit_drafts(store, embedder, texts, ids, base_filter=train, planner=planner)
    else:
        from lakehouse.retrieval import retrieve_batch

        hits = retrieve_batch(store, embedder, texts, k=1, exclude_ids=[[i] for i in ids], base_filter=train)
        drafts = [row[0].impression if row else "" for row in hits]
    return [{k for k, v in label_text(d).items() if v == "present" and k in abnormal} for d in drafts]


def macro_f1(pred: Sequence[set[str]], ref: Sequence[set[str]], findings: Sequence[str], idx: np.ndarray | None = None) -> float:
    """Mean over ``findings`` of the per-finding F1 (a finding with no positives anywhere scores 1 if never predicted)."""
    rows = range(len(pred)) if idx is None else idx
    scores = []
    for f in findings:
        tp = fp = fn = 0
        for i in rows:
            p, r = f in pred[i], f in ref[i]
            tp += p and r
            fp += p and not r
            fn += r and not p
        scores.append(1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def bootstrap(pred: Sequence[set[str]], ref: Sequence[set[str]], findings: Sequence[str], rounds: int, seed: int, base: Sequence[set[str]] | None = None) -> tuple[float, float]:
    """95% percentile interval of macro F1 over resampled test cases (paired difference to ``base`` if given)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, len(pred), len(pred))
        value = macro_f1(pred, ref, findings, idx)
        if base is not None:
            value -= macro_f1(base, ref, findings, idx)
        values.append(value)
    low, high = np.percentile(values, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def arm_rules(arm: str, threshold: float, max_candidates: int) -> FeedbackRules:
    """The feedback rules of one arm (see :mod:`evals.feedback`)."""
    # Every proposal that passes the arm's checks is applied (the clinician approves the queue), so arms differ only in the checks.
    return FeedbackRules(propagate=arm in ("no_text", "full"), require_text_support=arm == "full", similarity_threshold=threshold, max_candidates=max_candidates, auto_apply_confidence=0.0,
                         high_impact_findings=[], propagate_splits=["train"])


def copy_corpus(source: Settings, folder: Path, store: object) -> Settings:
    """A copy of the raw and semantic tiers of ``source`` in ``folder``, the source's store handed back first."""
    close = getattr(store, "close", None)
    if callable(close):
        close()  # flush and hand back the shard before copying it (the next use reopens it)
    keep = ("lakehouse", "qdrant")
    for name in keep:
        copy_tree(source.home / name, folder / name)  # keeps the shard's sparse files sparse
    return Settings(home=folder, policy_pack=source.policy_pack)
