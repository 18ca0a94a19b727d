"""Files of a report evaluation: JSON, a Markdown table and PNG plots (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.findings import FINDING_KEYS

if TYPE_CHECKING:
    from evals.report import ModeScores, ReportEvalResult


def _ci(i: object) -> str:
    return f"{i.value:.3f} [{i.low:.3f}, {i.high:.3f}]"  # type: ignore[attr-defined]


def markdown_table(result: ReportEvalResult) -> str:
    """One row per mode and baseline: ROUGE-L, BLEU-4, macro/micro/5-finding F1 with 95 % CIs, MeSH F1, p50 latency."""
    head = (f"{result.split} split, n={result.n}, model {result.model}, adapter {result.adapter or 'none'}; "
            f"label judge: {result.judge}; MeSH F1 of the radiologists' impressions: {result.reference_mesh_f1:.3f}\n\n")
    lines = ["| mode | ROUGE-L | BLEU-4 | macro F1 (14) | micro F1 (14) | F1-5 | MeSH F1 | p50 s/report |", "|---|---|---|---|---|---|---|---|"]
    rows: list[ModeScores] = [*result.modes.values(), *result.baselines.values()]
    for m in rows:
        latency = f"{m.p50_latency_s:.3f}" if m.p50_latency_s is not None else "-"
        lines.append(f"| {m.mode} | {_ci(m.rouge_l)} | {m.bleu4:.3f} | {_ci(m.macro_f1)} | {_ci(m.micro_f1)} | {_ci(m.f1_5)} | {m.mesh_f1:.3f} | {latency} |")
    per = ["", "| finding | support | " + " | ".join(m.mode for m in rows) + " |", "|---|---|" + "---|" * len(rows)]
    first = rows[0]
    for key in FINDING_KEYS:
        per.append(f"| {key} | {first.support[key]} | " + " | ".join(f"{m.per_finding[key]:.2f}" for m in rows) + " |")
    if unsupported := [k for k in FINDING_KEYS if not first.support[k]]:
        per += ["", f"{len(unsupported)} of {len(FINDING_KEYS)} findings have no reference positive in these {result.n} cases "
                    f"({', '.join(unsupported)}): each counts 0 in macro F1, so macro F1 is not comparable with a run on more cases."]
    return head + "\n".join(lines + per) + "\n"


def _plots(result: ReportEvalResult, out_dir: Path, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [*result.modes.values(), *result.baselines.values()]
    paths = []
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(FINDING_KEYS))
    for i, m in enumerate(rows):
        ax.bar(x + i * width, [m.per_finding[k] for k in FINDING_KEYS], width, label=m.mode)
    ax.set_xticks(x + 0.4 - width / 2, FINDING_KEYS, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("F1 (labeler)")
    ax.set_title(f"Per-finding F1, {result.split} split (n={result.n})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / f"{stem}_per_finding.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    metrics = ["rouge_l", "macro_f1", "f1_5"]
    x = np.arange(len(metrics))
    for i, m in enumerate(rows):
        vals = [getattr(m, k) for k in metrics]
        err = np.array([[v.value - v.low for v in vals], [v.high - v.value for v in vals]])
        ax.bar(x + i * width, [v.value for v in vals], width, yerr=err, capsize=2, label=m.mode)
    ax.set_xticks(x + 0.4 - width / 2, ["ROUGE-L", "macro F1", "F1-5"])
    ax.set_ylim(0, 1)
    ax.set_title(f"Modes compared, 95 % bootstrap CI ({result.split}, n={result.n})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / f"{stem}_modes.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write_outputs(result: ReportEvalResult, out_dir: Path) -> dict[str, str]:
    """Write ``report_eval_<split>[_<adapter>].{json,md}`` and two PNGs; return their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"report_eval_{result.split}" + (f"_{result.adapter}" if result.adapter else "")
    md = out_dir / f"{stem}.md"
    md.write_text(markdown_table(result))
    per_finding, modes = _plots(result, out_dir, stem)
    outputs = {"json": str(out_dir / f"{stem}.json"), "markdown": str(md), "per_finding_png": str(per_finding), "modes_png": str(modes)}
    data = result.model_dump(mode="json")
    data["outputs"] = outputs
    (out_dir / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    return outputs
