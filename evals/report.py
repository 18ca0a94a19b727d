"""``evaluate_reports``: impression quality per drafting mode, on the test split or a train-split dev subset.

For every case (numeric id divisible by 5 for ``test``; = 1 mod 5 of the train split for
``dev``, those ids then being held out of retrieval) each mode drafts an impression through
the batch engine of ``sagehealth generate-batch``, retrieving from the train split only and
never the case itself. Each draft is scored against the radiologist's impression:

- ROUGE-L (word LCS) and corpus BLEU-4 (sacrebleu): agreement in wording (house style);
- label F1 by the project labeler (:mod:`evals.metrics`): micro and macro over the 14 findings,
  micro over the five common ones, per finding. The labeler is the judge here, and its rules
  are frozen (docs/results.md gives its agreement with MeSH on each split);
- MeSH agreement: micro F1 of the labeler's reading of the draft against the Indiana MeSH
  problem codes of the case, an independent human coding (the reference impression's own
  figure is reported as its ceiling);
- 95 % percentile-bootstrap intervals (seeded) for ROUGE-L and the label F1s.

Two baselines are scored in the same run: the findings copied as the impression, and the
constant "No acute cardiopulmonary abnormality.". Outputs: ``report_eval_<split>.json``, a
Markdown table and two PNG plots in ``out_dir`` (``evals/results/`` by default).

Run::

    SAGE_HOME=.sage .venv/bin/python -m evals.report --limit 40
    SAGE_HOME=.sage .venv/bin/python -m evals.report --modes rag --append   # re-score one mode, keep the others
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from core.settings import Settings
from evals.metrics import COMMON_FIVE, Interval, bleu4, label_scores, positive, rouge_l
from lakehouse.findings import FINDING_KEYS

RESULTS_DIR = Path(__file__).parent / "results"
NORMAL_BASELINE = "No acute cardiopulmonary abnormality."
DEFAULT_MODES: tuple[str, ...] = ("rag", "no-rag", "retrieval-only")
log = logging.getLogger(__name__)


class ModeScores(BaseModel):
    """Scores of one drafting mode (or baseline) on the evaluated cases."""

    mode: str
    n: int
    rouge_l: Interval
    bleu4: float
    macro_f1: Interval
    micro_f1: Interval
    f1_5: Interval
    per_finding: dict[str, float]
    support: dict[str, int]
    mesh_f1: float = Field(description="Micro F1 of the draft's labeler positives vs the case's MeSH findings.")
    p50_latency_s: float | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list)


class ReportEvalResult(BaseModel):
    """What :func:`evaluate_reports` measured, with where it wrote it."""

    split: Literal["test", "dev"]
    n: int
    seed: int
    model: str
    adapter: str | None
    judge: str = Field(description="Who decides the clinical axis (the labeler, frozen rules).")
    reference_mesh_f1: float = Field(description="MeSH agreement of the radiologists' own impressions (ceiling).")
    cases_digest: str | None = Field(None, description="Digest of the evaluated case ids and impressions (``--append`` checks it).")
    modes: dict[str, ModeScores]
    baselines: dict[str, ModeScores]
    outputs: dict[str, str] = Field(default_factory=dict)


def _number(case_id: str) -> int:
    return int(re.sub(r"\D", "", case_id) or 0)


def eval_cases(settings: Settings, split: Literal["test", "dev"], limit: int | None) -> list[dict[str, Any]]:
    """Payloads of the evaluated cases (findings and impression present), ascending numeric id."""
    from lakehouse.semantic import SearchFilter, open_store

    points = open_store(settings).scroll(SearchFilter(split="test" if split == "test" else "train"), limit=100_000)
    cases = [p.payload for p in points if p.payload.get("findings") and p.payload.get("impression")]
    if split == "dev":
        cases = [c for c in cases if _number(c["case_id"]) % 5 == 1]
    cases.sort(key=lambda c: _number(c["case_id"]))
    return cases[:limit] if limit is not None else cases


def _mesh(case_ids: Sequence[str]) -> dict[str, set[str]]:
    """Finding keys of each case's Indiana MeSH codes (read from the shipped collection)."""
    from evals.labeler_agreement import mesh_findings
    from lakehouse.ingest.indiana import read_indiana

    wanted = set(case_ids)
    return {r.report_id: mesh_findings(r.mesh) for r in read_indiana() if r.report_id in wanted}


def _micro(pred: Sequence[set[str]], ref: Sequence[set[str]]) -> float:
    tp = sum(len(p & r) for p, r in zip(pred, ref, strict=True))
    fp = sum(len(p - r) for p, r in zip(pred, ref, strict=True))
    fn = sum(len(r - p) for p, r in zip(pred, ref, strict=True))
    return round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0


def _f1_columns(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(tp > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def _intervals(pred: Sequence[set[str]], ref: Sequence[set[str]], rouge: Sequence[float], samples: int, seed: int) -> dict[str, Interval]:
    """Percentile bootstrap (vectorised) of ROUGE-L and the label F1s over the same resampled cases."""
    n = len(ref)
    p = np.array([[k in s for k in FINDING_KEYS] for s in pred], dtype=bool).reshape(n, len(FINDING_KEYS))
    r = np.array([[k in s for k in FINDING_KEYS] for s in ref], dtype=bool).reshape(n, len(FINDING_KEYS))
    rng = np.random.default_rng(seed)
    idx = np.vstack([np.arange(n), rng.integers(0, n, size=(samples, n))]) if n else np.zeros((1, 0), dtype=int)
    tp, fp, fn = (p & r)[idx].sum(1), (p & ~r)[idx].sum(1), (~p & r)[idx].sum(1)  # (samples+1, 14)
    five = [FINDING_KEYS.index(k) for k in COMMON_FIVE]
    stats = {
        "rouge_l": np.asarray(rouge, dtype=float)[idx].mean(1) if n else np.zeros(1),
        "macro_f1": _f1_columns(tp, fp, fn).mean(1),
        "micro_f1": _f1_columns(tp.sum(1), fp.sum(1), fn.sum(1)),
        "f1_5": _f1_columns(tp[:, five].sum(1), fp[:, five].sum(1), fn[:, five].sum(1)),
    }
    out = {}
    for name, values in stats.items():
        low, high = np.percentile(values[1:], [2.5, 97.5]) if len(values) > 1 else (values[0], values[0])
        out[name] = Interval(value=round(float(values[0]), 4), low=round(float(low), 4), high=round(float(high), 4))
    return out


def score_drafts(mode: str, drafts: Sequence[str], cases: Sequence[dict[str, Any]], mesh: dict[str, set[str]], *, samples: int = 1000, seed: int = 0,
                 latencies: Sequence[float] | None = None) -> ModeScores:
    """All metrics of one list of drafts against the cases' impressions."""
    from lakehouse.labeler import label_text

    refs = [c["impression"] for c in cases]
    pred = [positive(label_text(d)) for d in drafts]
    ref = [positive(label_text(r)) for r in refs]
    rouge = [rouge_l(d, r) for d, r in zip(drafts, refs, strict=True)]
    labels = label_scores(pred, ref)
    ci = _intervals(pred, ref, rouge, samples, seed)
    mesh_ref = [mesh.get(c["case_id"], set()) for c in cases]
    return ModeScores(
        mode=mode, n=len(cases), rouge_l=ci["rouge_l"], bleu4=round(bleu4(drafts, refs), 4), macro_f1=ci["macro_f1"], micro_f1=ci["micro_f1"],
        f1_5=ci["f1_5"], per_finding=labels.per_finding, support=labels.support, mesh_f1=_micro(pred, mesh_ref),
        p50_latency_s=round(statistics.median(latencies), 4) if latencies else None,
        examples=[{"id": c["case_id"], "draft": d, "reference": c["impression"]} for d, c in list(zip(drafts, cases, strict=True))[:3]],
    )


def evaluate_reports(
    settings: Settings,
    modes: Sequence[str] = DEFAULT_MODES,
    adapter: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    *,
    split: Literal["test", "dev"] = "test",
    model: str | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 64,
    samples: int = 1000,
    out_dir: Path | None = RESULTS_DIR,
    append: bool = False,
) -> ReportEvalResult:
    """Draft and score every mode on the same cases; write JSON, Markdown and plots to ``out_dir`` (``None``: no files).

    Args:
        settings: Installation settings (an ingested lakehouse).
        modes: Drafting modes (``rag``, ``rag-lm``, ``no-rag``, ``retrieval-only``).
        adapter: LoRA adapter for the model-based modes.
        limit: First ``limit`` cases only (quick runs).
        seed: Bootstrap seed (drafting itself is deterministic: greedy decoding, fixed ranking).
        split: ``test`` (the reported figures) or ``dev`` (train ids = 1 mod 5, for tuning and the regression floor).
        model: Zoo name of the chat model (default ``settings.chat_model``).
        batch_size: Items per retrieval/generation batch.
        max_new_tokens: Generation budget of the model-based modes.
        samples: Bootstrap resamples.
        out_dir: Where to write results.
        append: Keep the modes already in ``out_dir``'s results for this split (same cases,
            same model and adapter, else ``ValueError`` before any drafting) and add or replace
            ``modes``: a slow mode need not be re-run when a fast one changes.
    """
    from agents.tasks.batch import BatchItem, generate_impressions
    from lakehouse.semantic import SearchFilter
    from tools.resources import Resources

    cases = eval_cases(settings, split, limit)
    if not cases:
        raise ValueError(f"no {split} cases with findings and impression in {settings.home}: run `sagehealth ingest` first")
    held_out = [c["case_id"] for c in eval_cases(settings, "dev", None)] if split == "dev" else []
    base = SearchFilter(split="train", exclude_ids=held_out)
    items = [BatchItem(id=c["case_id"], findings=c["findings"]) for c in cases]
    mesh = _mesh([c["case_id"] for c in cases])
    digest = cases_digest(cases)
    scored: dict[str, ModeScores] = dict(_previous(out_dir, split, digest, model or settings.chat_model, adapter).modes) if append else {}
    for mode in modes:
        results = generate_impressions(Resources.for_settings(settings), items, mode=mode, model=model, adapter=adapter, batch_size=batch_size,  # type: ignore[arg-type]
                                       max_new_tokens=max_new_tokens, base_filter=base)
        if any(r.id in r.retrieved or set(r.retrieved) & set(held_out) for r in results):
            raise AssertionError("an evaluated case was retrieved as evidence")
        scored[mode] = score_drafts(mode, [r.impression for r in results], cases, mesh, samples=samples, seed=seed, latencies=[r.latency_s for r in results])
        log.warning("%s: ROUGE-L %.3f macro F1 %.3f F1-5 %.3f", mode, scored[mode].rouge_l.value, scored[mode].macro_f1.value, scored[mode].f1_5.value)
    baselines = {
        "findings copied": score_drafts("findings copied", [c["findings"] for c in cases], cases, mesh, samples=samples, seed=seed),
        "constant normal": score_drafts("constant normal", [NORMAL_BASELINE] * len(cases), cases, mesh, samples=samples, seed=seed),
    }
    from lakehouse.labeler import LABELER_NAME, label_text

    reference_mesh = _micro([positive(label_text(c["impression"])) for c in cases], [mesh.get(c["case_id"], set()) for c in cases])
    result = ReportEvalResult(split=split, n=len(cases), seed=seed, model=model or settings.chat_model, adapter=adapter,
                              judge=f"{LABELER_NAME} (rules frozen)", reference_mesh_f1=reference_mesh, cases_digest=digest, modes=scored, baselines=baselines)
    if out_dir is not None:
        from evals.report_output import write_outputs

        result.outputs = write_outputs(result, out_dir)
    return result


def cases_digest(cases: Sequence[dict[str, Any]]) -> str:
    """Which cases were scored against which references (order-independent)."""
    import hashlib

    text = "\x1e".join(f"{c['case_id']}\x1f{c['impression']}" for c in sorted(cases, key=lambda c: c["case_id"]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _previous(out_dir: Path | None, split: str, digest: str, model: str, adapter: str | None) -> ReportEvalResult:
    """The results ``append`` adds to, checked to be of the same cases, model and adapter."""
    path = (out_dir or RESULTS_DIR) / f"report_eval_{split}.json"
    if not path.exists():
        raise ValueError(f"nothing to append to: {path} does not exist (run without --append first)")
    found = ReportEvalResult.model_validate_json(path.read_text())
    if found.cases_digest != digest:
        raise ValueError(f"{path} scored other cases (digest {found.cases_digest}, now {digest}): re-run every mode without --append")
    if (found.model, found.adapter) != (model, adapter):
        raise ValueError(f"{path} was drafted with model {found.model}, adapter {found.adapter}: append only with the same ones")
    return found


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry (the lead wires ``sagehealth eval report`` to :func:`evaluate_reports`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES))
    parser.add_argument("--split", choices=["test", "dev"], default="test")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--append", action="store_true", help="add/replace these modes in the existing results of the same cases")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from evals.report_output import markdown_table

    try:
        result = evaluate_reports(Settings(), args.modes.split(","), args.adapter, args.limit, args.seed, split=args.split, out_dir=args.out_dir, append=args.append)
    except ValueError as exc:  # bad --append, no ingested cases: say so, no traceback
        parser.error(str(exc))
    print(markdown_table(result))  # noqa: T201 - script output


if __name__ == "__main__":
    main()
