"""Base model against a trained LoRA adapter on the held-out test split (issue: adaptation hub).

Both are scored on the same test-split cases (never trained on): held-out loss per impression
token, and the clinical agreement of their greedy impressions with the reference impressions by
the project's labeler (``lakehouse.datasets.label_agreement``: per-finding agreement, positive
F1, normal/abnormal agreement). One base model is loaded; the adapter is switched on and off in
memory (PEFT), so the comparison is the adapter alone. Prompts are the no-retrieval impression
prompts the adapter is trained on; retrieval-augmented quality is ``evals/report_quality.py``.

    SAGE_HOME=.sage .venv/bin/python -m evals.adapter_quality --adapter impression-lora --n 60
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from core.settings import Settings

RESULTS = Path(__file__).parent / "results" / "adapter_quality.json"


def main(argv: Sequence[str] | None = None) -> None:
    """Score base and adapter, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True, help="installed adapter name (sagehealth adapt list)")
    parser.add_argument("--n", type=int, default=60, help="held-out test-split cases")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from lakehouse.datasets import impression_examples, label_agreement
    from models.adapt.data import encode_examples
    from models.adapt.evaluate import eval_loss, generate_impressions
    from models.adapt.registry import AdapterRegistry
    from models.adapt.runtime import AdapterSwitcher
    from models.adapt.train import base_model_folder
    from models.lm.loader import load_causal_lm

    settings = Settings()
    registry = AdapterRegistry(settings)
    manifest = registry.get(args.adapter).manifest
    held_out, info = impression_examples(settings, "test", limit=args.n, abnormal_fraction=None)
    references = [ex.target for ex in held_out]
    model, tokenizer = load_causal_lm(base_model_folder(settings, manifest.base_model))
    encoded = encode_examples(tokenizer, held_out, manifest.hyperparameters.max_seq_len)
    switcher = AdapterSwitcher(model, registry, base_name=manifest.base_model)

    rows: dict[str, dict[str, float | None]] = {}
    samples: dict[str, list[str]] = {}
    for label, name in (("base", None), ("adapter", args.adapter)):
        active = switcher.activate(name)
        loss = eval_loss(active, encoded, tokenizer.pad_token_id, args.batch_size)
        samples[label] = generate_impressions(active, tokenizer, held_out, args.max_new_tokens, args.batch_size)
        rows[label] = {"eval_loss": round(loss, 4) if loss is not None else None, **label_agreement(samples[label], references)}

    result = {
        "adapter": args.adapter,
        "base_model": manifest.base_model,
        "adapter_steps": manifest.metrics.get("steps"),
        "n": len(held_out),
        "data_version": info.get("version"),
        **rows,
        "examples": [{"id": ex.id, "reference": ex.target, "base": b, "adapter": a} for ex, b, a in list(zip(held_out, samples["base"], samples["adapter"], strict=True))[:5]],
    }
    print(f"{args.adapter} vs {manifest.base_model} on {len(held_out)} held-out test cases")
    print(f"  {'':8} {'loss':>7} {'label agr.':>10} {'pos. F1':>8} {'abn. agr.':>9}")
    for label in ("base", "adapter"):
        r = rows[label]
        print(f"  {label:8} {r['eval_loss'] or float('nan'):7.3f} {r['label_agreement']:10.3f} {r['positive_f1']:8.3f} {r['abnormal_agreement']:9.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
