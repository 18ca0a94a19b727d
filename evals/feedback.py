"""Co-evolution, measured (issue #19): does clinician feedback repair a noisy corpus and improve drafts.

Four arms start from the same lakehouse copy with the same label noise (see
:mod:`evals.feedback_sim`) and see the same report runs per cycle:

- ``static``: no feedback;
- ``named``: the clinician's corrections of the cases they met, no propagation;
- ``no_text``: corrections plus propagation to similar cases carrying the old label, without
  the text-support check;
- ``full``: corrections plus propagation with the text-support check (the pack's rule).

Per cycle and arm: corpus label accuracy (train, evaluated findings), propagation precision and
recall, and the macro F1 of ``rag`` drafts (the report task's retrieve-then-edit mode: the
impression planner, refitted on the arm's labels each cycle, picks the findings to state, and
the label-matched prior cases give the phrasing; no model, so thousands of drafts fit on 2 CPU
cores) on held-out test cases with a bootstrap interval. Noise and corrections reach the drafts
both ways: through which prior cases are retrieved, and through what the planner learns.

The propagation threshold and candidate cap are chosen on the train split only, by
:func:`evals.feedback_tuning.tune_threshold` (another noise seed, no test case is read; ``--tune``
writes ``results/feedback_tuning.json``).

Run: ``python -m evals.feedback --cycles 5 --runs 20`` (needs an ingested SAGE_HOME).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.settings import Settings
from evals import feedback_sim as sim
from evals.feedback_tuning import tune_threshold, tuned_max_candidates, tuned_threshold
from evals.report_quality import ABNORMAL, positives, test_cases
from lakehouse.findings import FindingState

RESULTS = Path(__file__).parent / "results" / "feedback.json"
ARMS = ("static", "named", "no_text", "full")
log = logging.getLogger(__name__)


class CycleRow(BaseModel):
    """One arm after one cycle (cycle 0: after the noise, before any feedback)."""

    cycle: int
    label_accuracy: float
    corrections: int = Field(description="Correction events submitted this cycle.")
    proposals_applied: int
    propagation_precision: float | None = Field(description="Applied proposals whose new state is the truth (cumulative).")
    propagation_recall: float | None = Field(description="Originally noisy labels fixed by propagation / (those + originally noisy labels still wrong) (cumulative).")
    neighbourhood_recall: float | None = Field(
        description="Among the train cases that carried a corrected finding's error within its max_candidates nearest (the whole train split once the cap exceeds it), "
                    "the share propagation fixed (cumulative).")
    macro_f1: float
    macro_f1_ci: tuple[float, float]


class FeedbackEvalResult(BaseModel):
    """The whole evaluation, as written to ``evals/results/feedback.json``."""

    config: dict[str, Any]
    arms: dict[str, list[CycleRow]]
    final_full_minus_static: float
    final_full_minus_static_ci: tuple[float, float]
    targets: dict[str, bool]
    seconds: float
    load_average: tuple[float, float, float]


class _Arm:
    """One arm's corpus copy, counters and rows."""

    def __init__(self, name: str, settings: Settings, truth: sim.Truth, threshold: float, max_candidates: int) -> None:
        from lakehouse.semantic import open_store
        from policies.audit import AuditLog

        self.name, self.settings, self.truth = name, settings, truth
        self.store = open_store(settings)
        self.audit = AuditLog(settings.home / "audit.jsonl")
        self.rules = sim.arm_rules(name, threshold, max_candidates)
        self.applied = self.correct = self.prop_fixed = 0
        self.hood = self.hood_fixed = 0
        self.rows: list[CycleRow] = []

    def submit(self, case: str, wrong: dict[str, tuple[FindingState | None, FindingState]], noisy: set[tuple[str, str]]) -> None:
        from lakehouse.feedback import Clinician, FeedbackEvent, FindingChange, record_feedback

        point = self.store.retrieve([case], with_vectors=True)[0]
        same_error = self._same_error(point, wrong)
        event = FeedbackEvent(case_id=case, clinician=Clinician(user="sim-clinician", role="radiologist", purpose="quality"), reason="simulated review of cited case",
                              changes=[FindingChange(finding=f, old=old, new=new) for f, (old, new) in sorted(wrong.items())])
        result = record_feedback(self.settings, event, audit=self.audit, store=self.store, rules=self.rules)
        assert result.status == "applied", result.reasons
        for p in result.proposals:
            if p.status != "applied":
                continue
            self.applied += 1
            good = self.truth[p.case_id].get(p.finding) == p.new
            self.correct += good
            self.prop_fixed += good and (p.case_id, p.finding) in noisy
            self.hood_fixed += good and (p.case_id, p.finding) in same_error
        self.hood += len(same_error)

    def _same_error(self, point: Any, wrong: dict[str, tuple[FindingState | None, FindingState]]) -> set[tuple[str, str]]:
        from lakehouse.semantic.base import SearchFilter

        out = set()
        for f, (old, new) in wrong.items():
            flt = SearchFilter(findings={f: old} if old else {}, split="train", exclude_ids=[point.case_id])
            for hit in self.store.search(point.vectors["text"], filter=flt, limit=self.rules.max_candidates):
                if (hit.payload.get("labels") or {}).get(f) == old and self.truth.get(hit.case_id, {}).get(f) == new:
                    out.add((hit.case_id, f))
        return out


def evaluate_feedback(settings: Settings, *, cycles: int = 5, runs_per_cycle: int = 20, noise: float = 0.3, n_test: int | None = None, k: int = 3, threshold: float = 0.7,
                      max_candidates: int = 1000, seed: int = 0, bootstrap_rounds: int = 1000, arms: Sequence[str] = ARMS, out_path: Path | None = RESULTS, draft_mode: str = "rag") -> FeedbackEvalResult:
    """Run every arm over the same noise and report runs; returns (and writes) the per-cycle figures."""
    import os

    from agents.tasks.report_plan import planner_from_store
    from lakehouse.feedback import Clinician, import_labels
    from lakehouse.retrieval import retrieve_batch
    from lakehouse.semantic import SearchFilter, open_store
    from models.zoo import ModelZoo

    started = time.perf_counter()
    embedder = ModelZoo(settings).embedder()
    source = open_store(settings)
    truth = sim.train_truth(source)
    tests = test_cases(settings, n_test)
    refs = [positives(c["impression"]) for c in tests]
    flips = sim.noise_plan(truth, sim.FINDINGS, noise, seed)
    noisy = {(c, f) for c, fs in flips.items() for f in fs}
    pool = sim.query_pool(truth, sim.FINDINGS, seed)
    preds: dict[str, list[set[str]]] = {}
    result_arms: dict[str, list[CycleRow]] = {}
    work = Path(tempfile.mkdtemp(prefix="sage-feedback-eval-"))
    try:
        for name in arms:
            arm = _Arm(name, sim.copy_corpus(settings, work / name, source), truth, threshold, max_candidates)
            source = open_store(settings)
            import_labels(arm.settings, flips, Clinician(user="eval-noise", role="radiologist", purpose="quality"), f"evaluation noise {noise}", audit=arm.audit, store=arm.store)
            for cycle in range(cycles + 1):
                corrections = 0
                if cycle and name != "static":
                    for query in pool[(cycle - 1) * runs_per_cycle : cycle * runs_per_cycle]:
                        findings = arm.store.retrieve([query])[0].payload.get("findings") or ""
                        if not findings.strip():
                            continue
                        cited = [h.case_id for h in retrieve_batch(arm.store, embedder, [findings], k=k, exclude_ids=[[query]], base_filter=SearchFilter(split="train"))[0]]
                        for case, wrong in sim.wrong_labels(arm.store, truth, sim.FINDINGS, cited).items():
                            arm.submit(case, {f: w for f, w in wrong.items()}, noisy)
                            corrections += 1
                if cycle and name == "static":  # nothing changes without feedback: the cycle-0 figures hold
                    arm.rows.append(arm.rows[0].model_copy(update={"cycle": cycle}))
                else:
                    # The planner learns from the arm's labels as they now are (noise and corrections are feedback events).
                    planner = planner_from_store(arm.store, None, SearchFilter(split="train")) if draft_mode == "rag" else None
                    arm.rows.append(_row(arm, cycle, corrections, noisy, tests, refs, embedder, bootstrap_rounds, seed, preds, draft_mode, planner))
                log.warning("%s cycle %d: %s", name, cycle, arm.rows[-1].model_dump(exclude={"macro_f1_ci"}))
            result_arms[name] = arm.rows
            arm.store.close()
            shutil.rmtree(work / name, ignore_errors=True)
    finally:
        source.close()
        shutil.rmtree(work, ignore_errors=True)
    return _finish(result_arms, preds, refs, dict(cycles=cycles, runs_per_cycle=runs_per_cycle, noise=noise, findings=list(sim.FINDINGS), n_test=len(tests), k=k, threshold=threshold,
                   max_candidates=max_candidates, seed=seed, bootstrap_rounds=bootstrap_rounds, noisy_labels=len(noisy), train_cases=len(truth), draft_mode=draft_mode),
                   bootstrap_rounds, seed, started, os.getloadavg(), out_path)


def _row(arm: _Arm, cycle: int, corrections: int, noisy: set[tuple[str, str]], tests: list[dict[str, Any]], refs: list[set[str]], embedder: Any, rounds: int, seed: int,
         preds: dict[str, list[set[str]]], draft_mode: str, planner: Any) -> CycleRow:
    accuracy, _ = sim.label_accuracy(arm.store, arm.truth, sim.FINDINGS)
    still = sum(1 for case, fs in sim.wrong_labels(arm.store, arm.truth, sim.FINDINGS).items() for f in fs if (case, f) in noisy)
    pred = sim.draft_positives(arm.store, embedder, tests, ABNORMAL, draft_mode, planner)
    preds[arm.name] = pred
    propagates = arm.rules.propagate
    return CycleRow(
        cycle=cycle, label_accuracy=round(accuracy, 4), corrections=corrections, proposals_applied=arm.applied,
        propagation_precision=round(arm.correct / arm.applied, 4) if arm.applied else None,
        propagation_recall=round(arm.prop_fixed / (arm.prop_fixed + still), 4) if propagates and arm.prop_fixed + still else None,
        neighbourhood_recall=round(arm.hood_fixed / arm.hood, 4) if propagates and arm.hood else None,
        macro_f1=round(sim.macro_f1(pred, refs, sim.FINDINGS), 4), macro_f1_ci=sim.bootstrap(pred, refs, sim.FINDINGS, rounds, seed),
    )


def _finish(arms: dict[str, list[CycleRow]], preds: dict[str, list[set[str]]], refs: list[set[str]], config: dict[str, Any], rounds: int, seed: int, started: float,
            load: tuple[float, float, float], out_path: Path | None) -> FeedbackEvalResult:
    diff, ci = 0.0, (0.0, 0.0)
    if "full" in preds and "static" in preds:
        diff = round(arms["full"][-1].macro_f1 - arms["static"][-1].macro_f1, 4)
        ci = sim.bootstrap(preds["full"], refs, sim.FINDINGS, rounds, seed, base=preds["static"])
    full = arms.get("full", [])
    targets = {
        "propagation_precision_ge_0.9": bool(full and (full[-1].propagation_precision or 0) >= 0.9),
        # Recall of the propagation rule: the same-error cases among each corrected case's neighbours it fixed.
        "propagation_recall_ge_0.5": bool(full and (full[-1].neighbourhood_recall or 0) >= 0.5),
        # Of every noisy label in the corpus: bounded by how many cases the simulated clinician meets (cycles x runs).
        "corpus_recall_ge_0.5": bool(full and (full[-1].propagation_recall or 0) >= 0.5),
        "full_f1_rises": bool(full and full[-1].macro_f1 > full[0].macro_f1),
        "full_beats_static_beyond_ci": ci[0] > 0,
    }
    result = FeedbackEvalResult(config=config, arms=arms, final_full_minus_static=diff, final_full_minus_static_ci=ci, targets=targets,
                                seconds=round(time.perf_counter() - started, 1), load_average=tuple(round(x, 2) for x in load))  # type: ignore[arg-type]
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(result.model_dump_json(indent=2) + "\n")
        _plot(result, out_path.with_suffix(".png"))
    return result


def _plot(result: FeedbackEvalResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, rows in result.arms.items():
        cycles = [r.cycle for r in rows]
        axes[0].plot(cycles, [r.label_accuracy for r in rows], marker="o", label=name)
        axes[1].plot(cycles, [r.macro_f1 for r in rows], marker="o", label=name)
        axes[1].fill_between(cycles, [r.macro_f1_ci[0] for r in rows], [r.macro_f1_ci[1] for r in rows], alpha=0.1)
    axes[0].set(title="corpus label accuracy (train)", xlabel="cycle")
    axes[1].set(title=f"draft macro F1 (test, {result.config.get('draft_mode', 'rag')})", xlabel="cycle")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(result: FeedbackEvalResult) -> str:
    """The per-cycle figures as a text table."""
    lines = ["arm      cycle  accuracy  corrections  applied  precision  recall  hood_recall  macro_f1 (95% CI)"]
    for name, rows in result.arms.items():
        for r in rows:
            fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            lines.append(f"{name:8s} {r.cycle:5d}  {r.label_accuracy:8.4f}  {r.corrections:11d}  {r.proposals_applied:7d}  {fmt(r.propagation_precision):>9s}  {fmt(r.propagation_recall):>6s}  "
                         f"{fmt(r.neighbourhood_recall):>11s}  {r.macro_f1:.4f} ({r.macro_f1_ci[0]:.3f}-{r.macro_f1_ci[1]:.3f})")
    lines.append(f"final full - static macro F1: {result.final_full_minus_static:+.4f} (95% paired bootstrap CI {result.final_full_minus_static_ci[0]:+.4f} .. {result.final_full_minus_static_ci[1]:+.4f})")
    lines.append("targets: " + json.dumps(result.targets))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry (``python -m evals.feedback``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="report runs per cycle")
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--n-test", type=int, default=None, help="test cases drafted per cycle (default: every test case with findings and impression)")
    parser.add_argument("--threshold", type=float, default=None, help="propagation similarity threshold (default: the tuned one in results/feedback_tuning.json, else 0.7)")
    parser.add_argument("--max-candidates", type=int, default=None, help="cases examined per corrected finding (default: the tuned cap in results/feedback_tuning.json, else 1000)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)} (same noise and runs whatever the subset)")
    parser.add_argument("--tune", action="store_true", help="choose the threshold and cap on the train split (another seed) and write results/feedback_tuning.json")
    parser.add_argument("--draft-mode", choices=("rag", "retrieval-only"), default="rag")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.tune:
        tuned = tune_threshold(Settings(), seed=args.seed + 1, noise=args.noise)
        print(json.dumps(tuned, indent=2))
        return
    threshold = args.threshold if args.threshold is not None else tuned_threshold()
    cap = args.max_candidates if args.max_candidates is not None else tuned_max_candidates()
    arms = [a for a in args.arms.split(",") if a]
    if unknown := set(arms) - set(ARMS):
        parser.error(f"unknown arms: {', '.join(sorted(unknown))}")
    result = evaluate_feedback(Settings(), cycles=args.cycles, runs_per_cycle=args.runs, noise=args.noise, n_test=args.n_test, threshold=threshold, max_candidates=cap,
                               seed=args.seed, arms=arms, out_path=args.out, draft_mode=args.draft_mode)
    print(table(result))


if __name__ == "__main__":
    main()
