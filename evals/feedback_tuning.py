"""Choosing the feedback loop's propagation threshold and candidate cap, on the train split only.

The co-evolution evaluation (:mod:`evals.feedback`) reads its threshold and cap from
``results/feedback_tuning.json``, which :func:`tune_threshold` writes from another noise seed
than the evaluation's; no test-split case is read (``python -m evals.feedback --tune``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.settings import Settings
from evals import feedback_sim as sim

TUNING = Path(__file__).parent / "results" / "feedback_tuning.json"
TUNE_GRID = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
TUNE_CAPS = (30, 100, 300, 1000, 3000, 10_000)
"""Candidate caps tried; the largest exceeds the train split, so it is "no cap"."""
TUNE_MIN_PRECISION = 0.95
"""Margin over the 0.9 target: the tuned threshold must keep precision on another noise seed."""


class ThresholdRow(BaseModel):
    """Propagation at one (similarity threshold, candidate cap) on the tuning seed (train split only)."""

    threshold: float
    max_candidates: int
    proposals: int
    precision: float | None
    recall: float | None = Field(description="Share of the train cases carrying each corrected finding's error (old label, true state = new) that got a right proposal.")


def tune_threshold(settings: Settings, *, seed: int = 1, noise: float = 0.3, corrections: int = 150, grid: Sequence[float] = TUNE_GRID, caps: Sequence[int] = TUNE_CAPS,
                   min_precision: float = TUNE_MIN_PRECISION, out_path: Path | None = TUNING) -> dict[str, Any]:
    """Choose the propagation threshold and candidate cap on the train split.

    A copy of the corpus gets the noise of ``seed`` (not the evaluation's), ``corrections`` noisy
    train cases are "corrected" with their true labels, and the proposals the full rule (text
    support on) would make are scored at each threshold of ``grid`` and cap of ``caps`` against
    the truth: precision, and recall among *all* train cases that carry the same error as a
    corrected finding (not only its nearest few). The threshold is the lowest one whose precision
    is >= ``min_precision`` (without a cap); the cap is the smallest one of ``caps`` that drops no
    proposal that threshold admits, so the threshold does the selecting and the cap only bounds
    the work. Nothing is applied, and no test-split case is read.
    """
    import random

    from lakehouse.feedback import Clinician, FindingChange, import_labels
    from lakehouse.feedback.propagate import find_proposals
    from lakehouse.semantic import open_store
    from lakehouse.semantic.base import SearchFilter
    from policies.audit import AuditLog

    started = time.perf_counter()
    source = open_store(settings)
    truth = sim.train_truth(source)
    flips = sim.noise_plan(truth, sim.FINDINGS, noise, seed)
    work = Path(tempfile.mkdtemp(prefix="sage-feedback-tune-"))
    widest = max(max(caps), len(truth))
    try:
        copy = sim.copy_corpus(settings, work / "tune", source)  # closes the source store
        store = open_store(copy)
        import_labels(copy, flips, Clinician(user="eval-noise", role="radiologist", purpose="quality"), f"tuning noise {noise} seed {seed}", audit=AuditLog(work / "audit.jsonl"), store=store)
        rules = sim.arm_rules("full", min(grid), widest)
        picked = random.Random(seed + 2).sample(sorted(flips), min(corrections, len(flips)))
        scored: list[tuple[float, int, bool, tuple[str, str]]] = []  # (similarity, rank among the filtered candidates, right, (case, finding)) per proposal
        same_error: set[tuple[str, str]] = set()
        for point in store.retrieve(picked, with_vectors=True):
            labels = dict(point.payload.get("labels") or {})
            wrong = {f: (labels.get(f), truth[point.case_id][f]) for f in flips[point.case_id]}
            rank: dict[tuple[str, str], int] = {}
            for f, (old, new) in wrong.items():
                flt = SearchFilter(findings={f: old} if old else {}, split="train", exclude_ids=[point.case_id])
                for i, h in enumerate(store.search(point.vectors["text"], filter=flt, limit=widest)):  # the whole filtered pool, nearest first
                    rank[(h.case_id, f)] = i
                    if (h.payload.get("labels") or {}).get(f) == old and truth.get(h.case_id, {}).get(f) == new:
                        same_error.add((h.case_id, f))
            changes = [FindingChange(finding=f, old=old, new=new) for f, (old, new) in sorted(wrong.items())]
            for p in find_proposals(store, point, labels, changes, rules, "tune"):
                scored.append((p.similarity, rank[(p.case_id, p.finding)], truth.get(p.case_id, {}).get(p.finding) == p.new, (p.case_id, p.finding)))
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for t in grid:
        for cap in caps:
            kept = [s for s in scored if s[0] >= t and s[1] < cap]
            right = sum(1 for s in kept if s[2])
            fixed = {s[3] for s in kept if s[2]} & same_error
            rows.append(ThresholdRow(threshold=t, max_candidates=cap, proposals=len(kept), precision=round(right / len(kept), 4) if kept else None,
                                     recall=round(len(fixed) / len(same_error), 4) if same_error else None))
    uncapped = [r for r in rows if r.max_candidates == max(caps)]
    passing = [r for r in uncapped if r.precision is not None and r.precision >= min_precision]
    chosen = min((r.threshold for r in passing), default=max(grid))
    admitted = next(r.proposals for r in uncapped if r.threshold == chosen)
    cap = min(r.max_candidates for r in rows if r.threshold == chosen and r.proposals == admitted)
    result = {"seed": seed, "noise": noise, "corrections": len(picked), "same_error_cases": len(same_error), "min_precision": min_precision, "chosen_threshold": chosen,
              "chosen_max_candidates": cap, "split": "train", "rows": [r.model_dump() for r in rows], "seconds": round(time.perf_counter() - started, 1),
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def tuned_threshold(default: float = 0.7) -> float:
    """The threshold :func:`tune_threshold` chose (train split), or ``default`` when it has not run."""
    if TUNING.is_file():
        return float(json.loads(TUNING.read_text())["chosen_threshold"])
    return default


def tuned_max_candidates(default: int = 1000) -> int:
    """The candidate cap :func:`tune_threshold` chose (train split), or ``default`` when it has not run (or ran before caps were tuned)."""
    if TUNING.is_file():
        return int(json.loads(TUNING.read_text()).get("chosen_max_candidates", default))
    return default
