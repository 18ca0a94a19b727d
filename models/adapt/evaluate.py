"""Held-out evaluation of a (possibly adapted) causal LM: token loss and generated impressions.

Used at the end of training and by ``benchmarks/lora.py`` to compare the base model with an
adapter on the same cases. Scoring generated text against references (label agreement) is the
caller's business: ``models`` cannot import the lakehouse labeler, so a scorer is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from models.adapt.data import IGNORE_INDEX, EncodedExample, TrainExample, collate, prompt_text

Scorer = Callable[[list[str], list[str]], dict[str, Any]]


def eval_loss(model: Any, encoded: Sequence[EncodedExample], pad_id: int, batch_size: int = 8) -> float | None:
    """Mean cross-entropy per impression token over ``encoded`` (None when there is nothing to score)."""
    import torch

    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            batch = collate(encoded[start : start + batch_size], pad_id)
            n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            if n == 0:
                continue
            out = model(**batch)
            # The model's loss is the mean over the shifted, unmasked tokens of this batch.
            total += float(out.loss) * n
            count += n
    if was_training:
        model.train()
    return total / count if count else None


def generate_impressions(model: Any, tokenizer: Any, examples: Sequence[TrainExample], max_new_tokens: int = 64, batch_size: int = 8) -> list[str]:
    """Greedy impressions for the examples' prompts (left-padded batches, deterministic)."""
    import torch

    outputs: list[str] = []
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(examples), batch_size):
            prompts = [prompt_text(tokenizer, ex.messages) for ex in examples[start : start + batch_size]]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            with torch.no_grad():
                ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            new = ids[:, enc["input_ids"].shape[1] :]
            outputs.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    return outputs
