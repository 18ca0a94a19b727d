"""Generation throughput through the zoo vs. calling transformers ``generate`` directly.

The zoo adds a chat template, a context check, a lock, stop-string handling, usage counting and
a span per call; this measures what that costs on the same prompts, single and batched::

    .venv/bin/python benchmarks/generation.py                 # 32 new tokens, 2 rounds
    .venv/bin/python benchmarks/generation.py --tokens 64 --rounds 3

Both paths decode greedily with the same weights, so they produce the same tokens; throughput is
output tokens (up to end-of-sequence) per wall-clock second. Zoo and direct runs alternate per
prompt and per round so that load from other processes hits both alike. Prints a table and
writes ``benchmarks/results/generation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm

from core.settings import Settings
from models.lm.local import LocalChatModel
from models.lm.types import GenerationParams
from models.prompts import impression_messages
from models.zoo import ModelZoo

PREBUILT = Path("/tmp/sage-models/smollm2-135m")
FINDINGS = [
    "The heart is normal in size. The lungs are clear. No pneumothorax or pleural effusion.",
    "Small left pleural effusion with adjacent basilar atelectasis. Heart size normal.",
    "Cardiomegaly with mild pulmonary vascular congestion. No focal consolidation.",
    "Right lower lobe airspace opacity concerning for pneumonia. No effusion.",
    "Hyperinflated lungs with flattened diaphragms. No acute infiltrate.",
    "Degenerative changes of the thoracic spine. Lungs clear. Normal mediastinum.",
    "Left upper lobe nodule measuring 8 mm. No pneumothorax.",
    "Sternotomy wires and mediastinal clips. Stable cardiomediastinal silhouette.",
]


def direct_generate(model: LocalChatModel, conversations: list, max_new: int) -> int:
    """Plain transformers: chat template, left-padded batch, ``generate``; returns tokens up to EOS."""
    tok = model.tokenizer
    texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.model.device)
    with torch.inference_mode():
        out = model.model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
    new = out[:, enc["input_ids"].shape[1] :].tolist()
    tok.batch_decode(new, skip_special_tokens=True)  # the zoo decodes too; keep the work equal
    eos = tok.pad_token_id
    return sum(row.index(eos) if eos in row else len(row) for row in new)


def measure(chat: LocalChatModel, tokens: int, rounds: int) -> dict:
    params = GenerationParams(max_new_tokens=tokens)
    prompts = [impression_messages(f, indication="cough") for f in FINDINGS]
    timing = {key: [0.0, 0] for key in ("zoo_single", "direct_single", "zoo_batch8", "direct_batch8")}

    def clock(key: str, fn) -> None:
        started = time.perf_counter()
        produced = fn()
        timing[key][0] += time.perf_counter() - started
        timing[key][1] += produced

    chat.generate(prompts[0], GenerationParams(max_new_tokens=4))  # warm-up: first call pays one-off costs
    for r in tqdm(range(rounds), desc="rounds", unit="round"):
        order = [("zoo", "direct"), ("direct", "zoo")][r % 2]
        for p in prompts:
            for who in order:
                if who == "zoo":
                    clock("zoo_single", lambda p=p: chat.generate(p, params).output_tokens)
                else:
                    clock("direct_single", lambda p=p: direct_generate(chat, [p], tokens))
        for who in order:
            if who == "zoo":
                clock("zoo_batch8", lambda: sum(g.output_tokens for g in chat.generate_batch(prompts, params)))
            else:
                clock("direct_batch8", lambda: direct_generate(chat, prompts, tokens))
    rates = {k: {"seconds": round(s, 3), "tokens": n, "tokens_per_s": round(n / s, 2)} for k, (s, n) in timing.items()}
    ratios = {
        "single": round(rates["zoo_single"]["tokens_per_s"] / rates["direct_single"]["tokens_per_s"], 3),
        "batch8": round(rates["zoo_batch8"]["tokens_per_s"] / rates["direct_batch8"]["tokens_per_s"], 3),
    }
    return {"rates": rates, "zoo_over_direct": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32, help="max new tokens per completion")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 8 prompts")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "generation.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), telemetry_exporter="none")
        if (PREBUILT / "config.json").is_file():
            settings.models_dir.mkdir(parents=True)
            (settings.models_dir / "smollm2-135m").symlink_to(PREBUILT, target_is_directory=True)
        chat = ModelZoo(settings).chat_model("smollm2-135m")
        assert isinstance(chat, LocalChatModel)
        result = measure(chat, args.tokens, args.rounds)
    result["config"] = {
        "model": "smollm2-135m", "max_new_tokens": args.tokens, "rounds": args.rounds, "prompts": len(FINDINGS),
        "device": chat.device, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2), "platform": platform.platform(),
    }
    for key, rate in result["rates"].items():
        print(f"{key:14s} {rate['tokens']:5d} tokens in {rate['seconds']:7.2f} s = {rate['tokens_per_s']:7.2f} tok/s")
    print(f"zoo/direct: single {result['zoo_over_direct']['single']:.3f}, batch8 {result['zoo_over_direct']['batch8']:.3f} (target >= 0.95)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
