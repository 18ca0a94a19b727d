"""De-identification figures: recall per PHI type, precision and clinical content kept, on the synthetic de-id set.

Three systems in the same run, on the same documents (the ``test`` half by default; rules were
tuned on ``dev`` only):

- ``redactor``: :class:`policies.deid.Redactor` as :mod:`lakehouse.deid_names` wires it: the
  deny-list the raw tier gives it (the set's patients' names, street lines and cities; relatives
  and clinicians are not on it) and the lakehouse's clinical vocabulary as allow-list;
- ``redactor, no deny-list``: the same without known names or places (what an unknown person
  costs);
- ``presidio``: plain Presidio, ``AnalyzerEngine`` defaults (all its recognizers and entities,
  no score threshold) with the same spaCy model (the default large one is not installed), spans
  replaced by ``AnonymizerEngine`` defaults.

Measures (a span counts as caught when every word of it lies inside masked text, whatever type
the system gave it):

- recall overall and per type, with 95 % Wilson intervals and the documents that leak;
- precision: share of masked spans that overlap a true PHI span;
- clinical content kept: share of the words of clinical content (findings, drugs, labs,
  diagnoses, ages under 90) that no mask touches.

Run::

    .venv/bin/python -m evals.deid                       # 400 patients, test half
    .venv/bin/python -m evals.deid --limit 60 --split dev

Writes ``evals/results/deid.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lakehouse.synth.deid_set import DEFAULT_SEED, DeidExample, generate_deid_set

TARGET_RECALL, TARGET_TYPE_RECALL, TARGET_KEPT = 0.995, 0.98, 0.95
_WORD = re.compile(r"\w+")
Spans = list[tuple[int, int]]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (round((centre - half) / (1 + z * z / n), 4), round((centre + half) / (1 + z * z / n), 4))


def _covered(start: int, end: int, text: str, masks: Spans) -> bool:
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    return all(any(a <= s and e <= b for a, b in masks) for s, e in words)


def score(examples: Sequence[DeidExample], predicted: Sequence[Spans]) -> dict[str, Any]:
    """Recall (overall, per type), precision, clinical content kept, leaking documents."""
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    tp_masks = all_masks = kept = clinical = leaking = 0
    for ex, masks in zip(examples, predicted, strict=True):
        leaked = False
        for span in ex.phi:
            hit = _covered(span.start, span.end, ex.text, masks)
            total[span.type] += 1
            found[span.type] += hit
            leaked |= not hit
        leaking += leaked
        all_masks += len(masks)
        tp_masks += sum(any(a < s.end and s.start < b for s in ex.phi) for a, b in masks)
        for span in ex.clinical:
            for m in _WORD.finditer(ex.text, span.start, span.end):
                clinical += 1
                kept += not any(a < m.end() and m.start() < b for a, b in masks)
    n, k = sum(total.values()), sum(found.values())
    return {
        "recall": round(k / n, 4), "recall_ci95": wilson(k, n), "phi_spans": n, "missed": n - k,
        "per_type": {t: {"recall": round(found[t] / total[t], 4), "n": total[t], "missed": total[t] - found[t],
                         "ci95": wilson(found[t], total[t])} for t in sorted(total)},
        "precision": round(tp_masks / all_masks, 4) if all_masks else 1.0, "precision_ci95": wilson(tp_masks, all_masks),
        "masks": all_masks, "clinical_kept": round(kept / clinical, 4), "clinical_kept_ci95": wilson(kept, clinical),
        "clinical_words": clinical, "documents": len(examples), "leaking_documents": leaking,
    }


def redactor_system(known_names: list[str], known_places: list[str]) -> Callable[[list[str]], list[Spans]]:
    """The project's redactor as a span predictor."""
    from lakehouse.deid_names import clinical_vocabulary
    from policies.deid import Redactor

    redactor = Redactor(known_names=known_names, known_places=known_places, allow_terms=clinical_vocabulary())
    return lambda texts: [[(e.start, e.end) for e in ents] for ents in redactor.analyze_batch(texts)]


def presidio_system() -> Callable[[list[str]], list[Spans]]:
    """Plain Presidio: default recognizers and entities, default anonymizer; same spaCy model."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    from policies.deid import SPACY_MODEL

    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
    analyzer = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def predict(texts: list[str]) -> list[Spans]:
        out = []
        for text in texts:
            results = analyzer.analyze(text, language="en")
            # The spans the anonymizer replaces ("keep" leaves offsets in original coordinates).
            from presidio_anonymizer.entities import OperatorConfig

            # presidio-analyzer and presidio-anonymizer each declare their own (same-shaped) RecognizerResult class.
            keep = {"DEFAULT": OperatorConfig("keep")}
            items = anonymizer.anonymize(text, results, operators=keep).items if results else []  # type: ignore[arg-type]
            out.append([(i.start, i.end) for i in items])
        return out

    return predict


def run(limit: int, split: str, seed: int, baseline: bool = True) -> dict[str, Any]:
    """Generate the set, run every system on ``split``, score them."""
    data = generate_deid_set(limit=limit, seed=seed)
    examples = [e for e in data.examples if e.split == split]
    texts = [e.text for e in examples]
    systems: dict[str, Callable[[], Callable[[list[str]], list[Spans]]]] = {
        "redactor": lambda: redactor_system(data.known_names, data.known_places),
        "redactor, no deny-list": lambda: redactor_system([], []),
    }
    if baseline:
        systems["presidio"] = presidio_system
    results: dict[str, Any] = {}
    for name, build in systems.items():
        predict = build()
        started = time.perf_counter()
        results[name] = score(examples, predict(texts)) | {"seconds": round(time.perf_counter() - started, 1)}
    styles = Counter(e.style for e in examples)
    return {"set": {"seed": seed, "patients": limit, "split": split, "documents": len(examples), "styles": dict(styles)},
            "targets": {"recall": TARGET_RECALL, "type_recall": TARGET_TYPE_RECALL, "clinical_kept": TARGET_KEPT},
            "load_average": os.getloadavg()[0], "systems": results}


def table(report: dict[str, Any]) -> str:
    """Markdown table: one row per PHI type, one column per system."""
    systems = report["systems"]
    names = list(systems)
    types = sorted({t for s in systems.values() for t in s["per_type"]})
    lines = ["| type | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for t in types:
        n = systems[names[0]]["per_type"][t]["n"]
        lines.append(f"| {t} | {n} | " + " | ".join(f'{s["per_type"][t]["recall"]:.3f}' for s in systems.values()) + " |")
    rows = [("**recall, all types**", "recall", "recall_ci95", "phi_spans"), ("precision (masks on PHI)", "precision", "precision_ci95", "masks"),
            ("clinical content kept", "clinical_kept", "clinical_kept_ci95", "clinical_words")]
    for label, key, ci, size in rows:
        lines.append(f"| {label} | {systems[names[0]][size]} | " + " | ".join(
            f"{s[key]:.3f} [{s[ci][0]:.3f}, {s[ci][1]:.3f}]" for s in systems.values()) + " |")
    lines.append(f"| documents leaking PHI | {report['set']['documents']} | " + " | ".join(
        str(s["leaking_documents"]) for s in systems.values()) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry: evaluate, print the table, write evals/results/deid.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400, help="patients (Indiana reports) in the set; two documents each")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-baseline", action="store_true", help="skip plain Presidio")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "deid.json")
    args = parser.parse_args(argv)
    report = run(args.limit, args.split, args.seed, baseline=not args.no_baseline)
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
