"""LoRA benchmark: training tokens/s, adapter switch latency, and base vs adapter quality.

A short run by default (state the step count when quoting numbers; a full epoch over 1,600
reports takes ~21 minutes on 2 CPU cores):

    .venv/bin/python benchmarks/lora.py --n-train 32 --max-steps 4 --k-eval 12

Data: the lakehouse in SAGE_HOME when it holds reports (de-identified, abnormal cases
oversampled, test split held out); otherwise the Indiana archive read straight from the
torchxrayvision wheel (already de-identified at source), split the same way.
Writes benchmarks/results/lora.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from core.settings import Settings
from lakehouse.datasets import impression_examples, label_agreement, rebalance_abnormal
from lakehouse.labeler import label_text
from lakehouse.raw.schema import split_for
from models.adapt.config import LoraTrainConfig
from models.adapt.data import TrainExample, encode_examples
from models.adapt.evaluate import eval_loss, generate_impressions
from models.adapt.registry import AdapterRegistry
from models.adapt.runtime import AdapterSwitcher
from models.adapt.train import base_model_folder, train_adapter
from models.prompts import impression_messages

RESULTS = Path(__file__).parent / "results" / "lora.json"
MODEL_CACHE = Path("/tmp/sage-models/smollm2-135m")


def indiana_examples(n_train: int, k_eval: int, seed: int) -> tuple[list[TrainExample], list[TrainExample], dict[str, Any]]:
    """Examples straight from the Indiana archive (when no lakehouse is built)."""
    from lakehouse.ingest.indiana import indiana_archive_path, read_indiana

    rows = [r.model_dump() for r in read_indiana() if r.findings.strip() and r.impression.strip()]
    train = [r for r in rows if split_for(r["report_id"]) == "train"]
    test = [r for r in rows if split_for(r["report_id"]) == "test"]
    abnormal = {r["report_id"] for r in train if any(s == "present" and k not in ("no_finding", "support_devices") for k, s in label_text(f"{r['impression']}\n{r['findings']}").items())}
    train, _ = rebalance_abnormal(train, abnormal, 0.5, n_train, random.Random(seed))

    def to_example(r: dict[str, Any]) -> TrainExample:
        return TrainExample(id=r["report_id"], messages=impression_messages(r["findings"], r["indication"]), target=r["impression"])

    info = {"source": f"indiana-wheel:{indiana_archive_path().name}", "version": "NLMCXR_reports.tgz", "split": "train", "deidentified": False, "note": "de-identified at source (XXXX)"}
    return [to_example(r) for r in train], [to_example(r) for r in test[:k_eval]], info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="SAGE_HOME with a lakehouse (default: a temporary one, Indiana archive data).")
    parser.add_argument("--n-train", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--k-eval", type=int, default=12, help="Held-out test-split cases for loss and label agreement.")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--switches", type=int, default=20, help="a->b->a flips to time.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    home = args.home or Path(tempfile.mkdtemp(prefix="sage-lora-bench-"))
    settings = Settings(home=home)
    if args.home is None and (MODEL_CACHE / "config.json").is_file():
        (home / "models").mkdir(parents=True, exist_ok=True)
        (home / "models" / "smollm2-135m").symlink_to(MODEL_CACHE)
    if (settings.lakehouse_dir / "reports").is_dir():
        train, info = impression_examples(settings, "train", limit=args.n_train)
        held_out, _ = impression_examples(settings, "test", limit=args.k_eval)
    else:
        train, held_out, info = indiana_examples(args.n_train, args.k_eval, seed=7)

    config = LoraTrainConfig(r=args.r, alpha=2 * args.r, lr=args.lr, max_steps=args.max_steps, batch_size=args.batch_size, gen_eval_limit=args.k_eval, max_new_tokens=args.max_new_tokens)
    generated: list[str] = []

    def scorer(predictions: list[str], references: list[str]) -> dict[str, float]:
        generated.extend(predictions)
        return label_agreement(predictions, references)

    started = time.perf_counter()
    manifest = train_adapter(settings, "bench-a", train, held_out, config, data_info=info, scorer=scorer, overwrite=True)
    train_wall = time.perf_counter() - started

    # Base model quality on the same held-out cases, then switching on the same base in memory.
    from models.lm.loader import load_causal_lm

    model, tokenizer = load_causal_lm(base_model_folder(settings, config.base_model))
    encoded = encode_examples(tokenizer, held_out, config.max_seq_len)
    base_loss = eval_loss(model, encoded, tokenizer.pad_token_id, args.batch_size)
    base_gen = generate_impressions(model, tokenizer, held_out, args.max_new_tokens, args.batch_size)
    base_scores = label_agreement(base_gen, [c.target for c in held_out])

    registry = AdapterRegistry(settings)
    staging = registry.staging_dir("bench-b")
    shutil.copytree(registry.get("bench-a").path, staging, dirs_exist_ok=True)
    registry.install(staging, manifest.model_copy(update={"name": "bench-b"}), overwrite=True)
    switcher = AdapterSwitcher(model, registry, base_name=config.base_model)
    first_load = []
    for name in ("bench-a", "bench-b"):
        switcher.activate(name)
        first_load.append(switcher.last_switch_ms)
    flips = []
    for _ in range(args.switches):
        for name in ("bench-a", "bench-b", "bench-a", None):
            switcher.activate(name)
            flips.append(switcher.last_switch_ms)

    m = manifest.metrics
    result = {
        "device": "cpu",
        "steps": m["steps"], "n_train": manifest.data.n_train, "batch_size": args.batch_size, "r": args.r, "k_eval": len(held_out),
        "data_source": manifest.data.source,
        "train_tokens_per_s": m["tokens_per_s"], "train_tokens": m["train_tokens"], "train_wall_s": round(train_wall, 1),
        "switch_first_load_ms": [round(x, 1) for x in first_load],
        "switch_ms_median": round(statistics.median(flips), 3), "switch_ms_max": round(max(flips), 3),
        "base": {"eval_loss": round(base_loss, 4) if base_loss else None, **base_scores},
        "adapter": {"eval_loss": round(m["eval_loss"], 4) if m["eval_loss"] else None, **{k.removeprefix("eval_"): v for k, v in m.items() if k in ("eval_label_agreement", "eval_positive_f1", "eval_abnormal_agreement")}},
        "examples": [{"id": c.id, "reference": c.target, "base": b, "adapter": a} for c, b, a in list(zip(held_out, base_gen, generated, strict=True))[:3]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"NOTE: short run ({m['steps']} optimizer steps on {manifest.data.n_train} examples), not a full epoch.")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
