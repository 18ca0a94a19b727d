"""Agreement of the rule labeler with the Indiana reports' MeSH problem codes, per finding.

The Indiana collection was MeSH-coded by people reading the same reports, so MeSH is an
independent reference for the findings it codes. It only codes what is there (no negatives),
so agreement is measured on "finding positive": labeler present or uncertain vs. a MeSH term
of that finding. Findings MeSH does not code comparably (pleural_other, enlarged
cardiomediastinum) are reported but should be read with care.

Run::

    .venv/bin/python -m evals.labeler_agreement            # all reports
    .venv/bin/python -m evals.labeler_agreement --limit 300

Writes ``evals/results/labeler_agreement.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lakehouse.findings import FINDING_KEYS, Labels

# MeSH heading (first part of "Heading/qualifier", lower-cased) -> finding key.
MESH_TO_FINDING: dict[str, str] = {
    "normal": "no_finding",
    "cardiomegaly": "cardiomegaly",
    "pleural effusion": "pleural_effusion",
    "pulmonary atelectasis": "atelectasis",
    "atelectasis": "atelectasis",
    "pneumothorax": "pneumothorax",
    "pulmonary edema": "edema",
    "edema": "edema",
    "pulmonary congestion": "edema",
    "pneumonia": "pneumonia",
    "infection": "pneumonia",
    "consolidation": "consolidation",
    "opacity": "lung_opacity",
    "airspace disease": "lung_opacity",
    "infiltrate": "lung_opacity",
    "density": "lung_opacity",
    "fractures, bone": "fracture",
    "nodule": "lung_lesion",
    "mass": "lung_lesion",
    "lung neoplasms": "lung_lesion",
    "lung cancer": "lung_lesion",
    "catheters, indwelling": "support_devices",
    "implanted medical device": "support_devices",
    "tube, inserted": "support_devices",
    "medical device": "support_devices",
    "pacemaker, artificial": "support_devices",
    "stents": "support_devices",
    "surgical instruments": "support_devices",
    "sternotomy": "support_devices",
    "catheterization, central venous": "support_devices",
    "central venous catheter": "support_devices",
    "central venous catheters": "support_devices",
    "catheter": "support_devices",
    "catheters": "support_devices",
    "catheterization": "support_devices",
}
# MeSH pleural terms are coded as "Pleura/thickening"; other headings carry the finding in the qualifier.
MESH_QUALIFIED: dict[tuple[str, str], str] = {
    ("thickening", "pleura"): "pleural_other",
    ("pleura", "thickening"): "pleural_other",
    ("cardiac shadow", "enlarged"): "cardiomegaly",
    ("mediastinum", "enlarged"): "enlarged_cardiomediastinum",
    ("mediastinum", "prominent"): "enlarged_cardiomediastinum",
    ("mediastinum", "widened"): "enlarged_cardiomediastinum",
}


def mesh_findings(mesh: Iterable[str]) -> set[str]:
    """Finding keys the MeSH terms of one report name."""
    keys: set[str] = set()
    for term in mesh:
        parts = [p.strip().lower() for p in term.split("/")]
        key = MESH_TO_FINDING.get(parts[0])
        if key is None and len(parts) > 1:
            key = MESH_QUALIFIED.get((parts[0], parts[1]))
        if key is not None:
            keys.add(key)
    return keys


def _positive(labels: Labels, key: str) -> bool:
    return labels.get(key) in ("present", "uncertain") if key != "no_finding" else labels.get(key) == "present"


def agreement(pairs: list[tuple[Labels, set[str]]]) -> dict[str, dict[str, Any]]:
    """Per finding: counts, accuracy, precision, recall, F1 and Cohen's kappa (labeler vs MeSH)."""
    out: dict[str, dict[str, Any]] = {}
    n = len(pairs)
    for key in FINDING_KEYS:
        tp = sum(1 for labels, mesh in pairs if _positive(labels, key) and key in mesh)
        fp = sum(1 for labels, mesh in pairs if _positive(labels, key) and key not in mesh)
        fn = sum(1 for labels, mesh in pairs if not _positive(labels, key) and key in mesh)
        tn = n - tp - fp - fn
        acc = (tp + tn) / n if n else 0.0
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        # Kappa: agreement beyond what the two marginal rates give by chance.
        p_yes = ((tp + fp) / n) * ((tp + fn) / n) if n else 0.0
        p_no = ((tn + fn) / n) * ((tn + fp) / n) if n else 0.0
        chance = p_yes + p_no
        kappa = (acc - chance) / (1 - chance) if chance < 1 else 1.0
        out[key] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "accuracy": round(acc, 4), "precision": round(prec, 4),
                    "recall": round(rec, 4), "f1": round(f1, 4), "kappa": round(kappa, 4)}
    return out


def run(limit: int | None = None, split: str | None = None) -> dict[str, Any]:
    """Label the Indiana reports (of one split, if given) and compare with their MeSH codes.

    The rules are frozen (``LABELER_NAME``); they were written while reading the whole corpus,
    so the ``test`` figure is reported beside the ``train`` one, not as an unseen-text figure.
    """
    from lakehouse.ingest.indiana import read_indiana
    from lakehouse.labeler import LABELER_NAME, label_report
    from lakehouse.raw.schema import split_for

    reports = [r for r in read_indiana(limit=limit) if split is None or split_for(r.report_id) == split]
    started = time.perf_counter()
    labelled = [label_report(r.findings, r.impression) for r in reports]
    seconds = time.perf_counter() - started
    pairs = [(labels, mesh_findings(r.mesh)) for labels, r in zip(labelled, reports, strict=True)]
    # MeSH "normal" also excludes findings outside the 14 (degenerative spine, granulomas, ...);
    # this variant calls a report normal when MeSH names none of the 13 abnormal findings.
    mapped = [(labels, mesh | {"no_finding"} if not (mesh - {"no_finding", "support_devices"}) else mesh - {"no_finding"}) for labels, mesh in pairs]
    return {
        "labeler": LABELER_NAME,
        "split": split or "all",
        "reports": len(reports),
        "reports_per_second": round(len(reports) / seconds, 1) if seconds else None,
        "per_finding": agreement(pairs),
        "no_finding_vs_unmapped_mesh": agreement(mapped)["no_finding"],
    }


def main() -> None:
    """Command-line entry: print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--split", choices=["train", "test"], default=None, help="only this split (default: all reports)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.limit, args.split)
    args.out = args.out or Path(__file__).parent / "results" / ("labeler_agreement.json" if args.split is None else f"labeler_agreement_{args.split}.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    header = f"{'finding':28} {'tp':>5} {'fp':>5} {'fn':>5} {'prec':>6} {'rec':>6} {'f1':>6} {'kappa':>6}"
    lines = [f"{result['labeler']} ({result['split']}): {result['reports']} reports, {result['reports_per_second']} reports/s", header]
    for key, m in result["per_finding"].items():
        lines.append(f"{key:28} {m['tp']:5d} {m['fp']:5d} {m['fn']:5d} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['kappa']:6.3f}")
    m = result["no_finding_vs_unmapped_mesh"]
    lines.append(f"{'no_finding (no mapped MeSH)':28} {m['tp']:5d} {m['fp']:5d} {m['fn']:5d} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['kappa']:6.3f}")
    print("\n".join(lines))  # noqa: T201 - a script's report


if __name__ == "__main__":
    main()
