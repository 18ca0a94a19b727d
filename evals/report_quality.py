"""Impression quality of the three drafting modes on the Indiana test split.

For the first ``--n`` test cases (numeric id divisible by 5, ascending, with findings and an
impression) it drafts an impression in each mode through the same batch engine as
``sagehealth generate-batch``, retrieving from the train split only, and scores it against the
reference impression:

- label F1: micro F1 over the 13 abnormal findings (``no_finding`` excluded; positive =
  present) between the labels of the draft and of the reference impression (``--reference
  report`` labels findings + impression instead);
- ROUGE-L F-measure on lower-cased word tokens (LCS, implemented below);
- p50 latency per report (batch wall time / batch size: retrieval + generation).

Run::

    SAGE_HOME=.sage .venv/bin/python -m evals.report_quality --n 40
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.settings import Settings
from evals.metrics import rouge_l
from lakehouse.findings import FINDING_KEYS

ABNORMAL = [k for k in FINDING_KEYS if k != "no_finding"]
RESULTS = Path(__file__).parent / "results" / "report_quality.json"


def label_f1(predicted: Sequence[set[str]], reference: Sequence[set[str]]) -> dict[str, float]:
    """Micro precision/recall/F1 over positive abnormal findings."""
    tp = sum(len(p & r) for p, r in zip(predicted, reference, strict=True))
    fp = sum(len(p - r) for p, r in zip(predicted, reference, strict=True))
    fn = sum(len(r - p) for p, r in zip(predicted, reference, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def positives(text: str) -> set[str]:
    """Abnormal findings the project labeler reads as present in ``text``."""
    from lakehouse.labeler import label_text

    return {k for k, v in label_text(text).items() if v == "present" and k in ABNORMAL}


def test_cases(settings: Settings, n: int | None) -> list[dict[str, Any]]:
    """The first ``n`` test-split cases (ascending numeric id) with findings and an impression (all for ``None``)."""
    from lakehouse.semantic import SearchFilter, open_store

    points = open_store(settings).scroll(SearchFilter(split="test"), limit=100_000)
    cases = [p.payload for p in points if p.payload.get("findings") and p.payload.get("impression")]
    cases.sort(key=lambda p: int(re.sub(r"\D", "", p["case_id"]) or 0))
    return cases[:n]


def evaluate(settings: Settings, n: int, modes: Sequence[str], reference: str, model: str | None, adapter: str | None, batch_size: int, max_new_tokens: int, out_path: Path | None = None) -> dict[str, Any]:
    """Run every mode on the same cases; returns the metrics per mode (saved after each mode)."""
    from agents.tasks.batch import BatchItem, generate_impressions
    from lakehouse.semantic import SearchFilter
    from tools.resources import Resources

    resources = Resources.for_settings(settings)
    cases = test_cases(settings, n)
    items = [BatchItem(id=c["case_id"], findings=c["findings"]) for c in cases]
    refs = [positives(c["impression"] if reference == "impression" else f"{c['findings']} {c['impression']}") for c in cases]
    out: dict[str, Any] = {"n": len(cases), "reference": reference, "model": model or settings.chat_model, "adapter": adapter, "modes": {}}
    for mode in modes:
        results = generate_impressions(resources, items, mode=mode, model=model, adapter=adapter, batch_size=batch_size, max_new_tokens=max_new_tokens, base_filter=SearchFilter(split="train"))  # type: ignore[arg-type]
        assert all(r.id not in r.retrieved for r in results)
        preds = [positives(r.impression) for r in results]
        out["modes"][mode] = {
            **label_f1(preds, refs),
            "rouge_l": round(statistics.mean(rouge_l(r.impression, c["impression"]) for r, c in zip(results, cases, strict=True)), 4),
            "abnormal_drafts": sum(bool(p) for p in preds),
            "abnormal_references": sum(bool(r) for r in refs),
            "p50_latency_s": round(statistics.median(r.latency_s for r in results), 3),
            "examples": [{"id": r.id, "impression": r.impression, "reference": c["impression"], "retrieved": r.retrieved} for r, c in list(zip(results, cases, strict=True))[:3]],
        }
        logging.getLogger(__name__).warning("%s: %s", mode, {k: v for k, v in out["modes"][mode].items() if k != "examples"})
        if out_path is not None:  # a long run keeps what it measured so far
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(out, indent=2) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry: evaluate, print a table, write evals/results/report_quality.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="test cases to evaluate")
    parser.add_argument("--modes", default="rag,no-rag,retrieval-only")
    parser.add_argument("--reference", choices=["impression", "report"], default="impression")
    parser.add_argument("--model", default=None)
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = evaluate(Settings(), args.n, args.modes.split(","), args.reference, args.model, args.adapter, args.batch_size, args.max_new_tokens, args.out)
    print(f"n={result['n']} reference={args.reference} model={result['model']} adapter={args.adapter}")  # noqa: T201 - script output
    print(f"{'mode':16}{'label P':>9}{'label R':>9}{'label F1':>10}{'ROUGE-L':>9}{'abn.':>6}{'p50 s':>8}")  # noqa: T201
    for mode, m in result["modes"].items():
        print(f"{mode:16}{m['precision']:9.3f}{m['recall']:9.3f}{m['f1']:10.3f}{m['rouge_l']:9.3f}{m['abnormal_drafts']:6d}{m['p50_latency_s']:8.2f}")  # noqa: T201


if __name__ == "__main__":
    main()
