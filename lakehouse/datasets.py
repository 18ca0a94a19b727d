"""Training and evaluation examples for the adaptation hub, read from the raw tier.

Rules this module enforces so no caller has to remember them:
- test-split reports never become training examples (the ``split`` column, re-checked with
  :func:`lakehouse.raw.schema.split_for`);
- findings, indication and impression pass the PHI redactor before they become model text;
- abnormal cases are oversampled up to ``abnormal_fraction`` of the training set, because a
  model trained on the natural mix learns to write "no acute disease" (docs/models.md);
- a ``rag_fraction`` of the examples carry similar prior cases in the prompt, retrieved exactly
  as the report task retrieves them at inference (label-aware, train split, never the case
  itself), so one adapter serves both the ``rag`` and the ``no-rag`` prompt. An adapter trained
  on bare prompts only learns to ignore (or copy) examples it never saw.

    examples, info = impression_examples(settings, split="train", limit=800)
"""

from __future__ import annotations

import logging
import random
from typing import Any, Literal

from core.errors import SageError
from core.settings import Settings
from lakehouse.labeler import label_text
from lakehouse.raw.schema import split_for
from models.adapt.data import TrainExample
from models.prompts import PriorCase, impression_messages

log = logging.getLogger(__name__)

# Devices do not make a study abnormal (as in CheXpert and lakehouse.labeler).
_NOT_ABNORMAL = ("no_finding", "support_devices")


class DatasetError(SageError):
    """The lakehouse holds no usable reports for the requested split."""


def _abnormal_ids(engine: Any) -> set[str] | None:
    """Report ids with a present finding in ``report_labels``; None when the table is empty."""
    if not engine.sql("SELECT count(*) AS n FROM report_labels").rows[0][0]:
        return None
    excluded = ", ".join(f"'{f}'" for f in _NOT_ABNORMAL)
    result = engine.sql(f"SELECT DISTINCT report_id FROM report_labels WHERE state = 'present' AND finding NOT IN ({excluded})", max_rows=10_000_000)
    return {row[0] for row in result.rows}


def rebalance_abnormal(rows: list[dict[str, Any]], abnormal: set[str], fraction: float, limit: int | None, rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """Pick rows so at least ``fraction`` are abnormal, repeating abnormal ones if needed; returns (rows, repeats)."""
    sick = [r for r in rows if r["report_id"] in abnormal]
    well = [r for r in rows if r["report_id"] not in abnormal]
    rng.shuffle(sick)
    rng.shuffle(well)
    if limit is None:
        n_well = len(well)
        n_sick = max(len(sick), round(fraction * n_well / (1 - fraction))) if fraction < 1 else len(sick)
    else:
        n_sick = max(round(limit * fraction), limit - len(well))
        n_well = limit - n_sick
    if not sick:
        n_sick = 0
    picked = [sick[i % len(sick)] for i in range(n_sick)] if sick else []
    chosen = picked + well[:n_well]
    rng.shuffle(chosen)
    return chosen, max(0, n_sick - len(sick))


def impression_examples(
    settings: Settings,
    split: Literal["train", "test"] = "train",
    limit: int | None = None,
    deidentify: bool = True,
    abnormal_fraction: float | None = 0.5,
    seed: int = 7,
    rag_fraction: float = 0.0,
    rag_k: int = 3,
    *,
    store: Any = None,
    embedder: Any = None,
    redactor: Any = None,
) -> tuple[list[TrainExample], dict[str, Any]]:
    """Findings -> impression examples from the ``reports`` table.

    Args:
        settings: Which lakehouse to read.
        split: ``train`` for training; ``test`` only for held-out evaluation.
        limit: At most this many examples (chosen after rebalancing, so the fraction holds).
        deidentify: Pass findings, indication and impression through the PHI redactor.
        abnormal_fraction: Minimum share of abnormal cases (train split only; None keeps the
            natural mix). Abnormal = a present finding in ``report_labels`` (or, if that table
            is empty, read off the report by ``lakehouse.labeler``).
        seed: Order and oversampling seed.
        rag_fraction: Share of examples (seeded choice) whose prompt shows ``rag_k`` similar
            train-split cases from the semantic tier, as the report task's ``rag`` mode does.
        rag_k: Prior cases per retrieval-augmented prompt.
        store: The installation's semantic store (``tools.resources.Resources`` holds it);
            opened for this call when not given.
        embedder: The text embedder (from the model zoo when not given).
        redactor: The PHI redactor (a new one when not given).

    Returns:
        The examples and their provenance (``data_info`` for the adapter manifest).
    """
    from lakehouse.query import QueryEngine

    engine = QueryEngine(settings)
    try:
        result = engine.sql(
            f"SELECT report_id, indication, findings, impression FROM reports WHERE split = '{'test' if split == 'test' else 'train'}' "
            "AND findings IS NOT NULL AND impression IS NOT NULL AND length(trim(findings)) > 0 AND length(trim(impression)) > 0 ORDER BY report_id",
            max_rows=10_000_000,
        )
        # Defence in depth: a row whose id says "test" is never training data, whatever its column says.
        rows = [r for r in result.records() if split_for(r["report_id"]) == split]
        if not rows:
            raise DatasetError(f"no {split}-split reports with findings and impression in {settings.lakehouse_dir}", hint="run `sagehealth ingest` first")
        abnormal = _abnormal_ids(engine) if split == "train" and abnormal_fraction else None
        versions = dict(result.table_versions)
    finally:
        engine.close()
    if split == "train" and abnormal_fraction:
        if abnormal is None:
            abnormal = {r["report_id"] for r in rows if any(s == "present" and k not in _NOT_ABNORMAL for k, s in label_text(f"{r['impression']}\n{r['findings']}").items())}
        rows, repeats = rebalance_abnormal(rows, abnormal, abnormal_fraction, limit, random.Random(seed))
    else:
        repeats = 0
        rows = rows[:limit] if limit else rows
        abnormal = abnormal or set()
    texts = [t for r in rows for t in (r["findings"], r["indication"] or "", r["impression"])]
    if deidentify:
        redactor = redactor or _new_redactor()
        texts = [res.text for res in redactor.redact_batch(texts)]
    if rag_fraction > 0:
        from lakehouse.semantic import open_store
        from models.zoo import ModelZoo

        backends = (store or open_store(settings), embedder or ModelZoo(settings).embedder(), redactor)
        priors = _prior_cases(backends, rows, texts, rag_fraction, rag_k, random.Random(seed + 1), deidentify)
    else:
        priors = {}
    examples = [
        TrainExample(id=r["report_id"], messages=impression_messages(texts[3 * i], texts[3 * i + 1], priors.get(i, [])), target=texts[3 * i + 2],
                     prior_ids=[p.case_id for p in priors.get(i, [])])
        for i, r in enumerate(rows)
    ]
    n_abnormal = sum(r["report_id"] in abnormal for r in rows)
    info = {
        "source": "lakehouse:reports",
        "version": ",".join(f"{t}@v{v}" for t, v in sorted(versions.items())),
        "table_versions": versions,
        "split": split,
        "deidentified": deidentify,
        "n_examples": len(examples),
        "n_abnormal": n_abnormal if split == "train" and abnormal_fraction else None,
        "abnormal_fraction": round(n_abnormal / len(examples), 3) if examples and split == "train" and abnormal_fraction else None,
        "abnormal_repeats": repeats,
        "rag_fraction": round(sum(bool(p) for p in priors.values()) / len(examples), 3) if examples else 0.0,
        "rag_k": rag_k if priors else 0,
    }
    log.info("%d %s examples (%s abnormal, %d repeats) from %s", len(examples), split, info["n_abnormal"], repeats, info["version"])
    return examples, info


def label_agreement(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Clinical agreement of generated vs reference impressions, by the project's labeler.

    ``label_agreement``: mean share of the 14 findings whose positive/negative status matches;
    ``positive_f1``: micro F1 over positive (present or uncertain) findings; ``abnormal_agreement``:
    share of cases where normal vs abnormal matches.
    """
    from lakehouse.findings import FINDING_KEYS

    def positives(text: str) -> set[str]:
        return {k for k, s in label_text(text).items() if s in ("present", "uncertain") and k != "no_finding"}

    agree, abnormal_agree, tp, fp, fn = 0.0, 0, 0, 0, 0
    keys = [k for k in FINDING_KEYS if k != "no_finding"]
    for pred, ref in zip(predictions, references, strict=True):
        p, r = positives(pred), positives(ref)
        agree += sum((k in p) == (k in r) for k in keys) / len(keys)
        abnormal_agree += bool(p - set(_NOT_ABNORMAL)) == bool(r - set(_NOT_ABNORMAL))
        tp, fp, fn = tp + len(p & r), fp + len(p - r), fn + len(r - p)
    n = max(len(references), 1)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return {"label_agreement": round(agree / n, 4), "positive_f1": round(f1, 4), "abnormal_agreement": round(abnormal_agree / n, 4)}


def _new_redactor() -> Any:
    from policies.phi import PhiRedactor

    return PhiRedactor()


def _prior_cases(backends: tuple[Any, Any, Any], rows: list[dict[str, Any]], texts: list[str], fraction: float, k: int, rng: random.Random, deidentify: bool) -> dict[int, list[PriorCase]]:
    """For a seeded ``fraction`` of the rows: the ``k`` similar train cases the report task would show.

    Retrieval runs on the semantic tier exactly as at inference (label-aware, train split, the
    case itself excluded). A retrieved case's texts are the de-identified ones already made for
    the rows, or are redacted here, so no raw text enters a prompt.
    """
    from lakehouse.retrieval import retrieve_batch
    from lakehouse.semantic import SearchFilter

    store, embedder, redactor = backends
    chosen = sorted(rng.sample(range(len(rows)), round(fraction * len(rows))))
    if not chosen:
        return {}
    hits = retrieve_batch(
        store, embedder, [rows[i]["findings"] for i in chosen],
        k=k, exclude_ids=[[rows[i]["report_id"]] for i in chosen], base_filter=SearchFilter(split="train"),
    )
    clean = {r["report_id"]: (texts[3 * i], texts[3 * i + 2]) for i, r in enumerate(rows)}
    missing = {h.case_id: (h.findings, h.impression) for found in hits for h in found if h.case_id not in clean}
    if missing:
        flat = [t for pair in missing.values() for t in pair]
        if deidentify:
            flat = [res.text for res in (redactor or _new_redactor()).redact_batch(flat)]
        clean |= {cid: (flat[2 * j], flat[2 * j + 1]) for j, cid in enumerate(missing)}
    return {i: [PriorCase(h.case_id, *clean[h.case_id]) for h in found if clean[h.case_id][1].strip()] for i, found in zip(chosen, hits, strict=True)}
