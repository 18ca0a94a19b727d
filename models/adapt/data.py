"""Training examples and how they become token batches.

An example is the exact chat the model sees at inference (``models.prompts.impression_messages``)
plus the impression it should write. Only the impression tokens (and the end-of-turn token)
carry loss: the prompt is masked with -100 so the adapter learns to answer, not to echo.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from models.adapt.errors import TrainingDataError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
# An example whose prompt leaves fewer target tokens than this teaches nothing useful.
MIN_TARGET_TOKENS = 4


class TrainExample(BaseModel):
    """One supervised pair: chat messages (system + user) and the reference impression."""

    id: str = Field(description="Case/report id, kept for provenance and for leak checks against the test split.")
    messages: list[dict[str, str]] = Field(description="Chat messages from models.prompts.impression_messages.")
    target: str = Field(description="Reference impression the model should produce.")
    prior_ids: list[str] = Field(default_factory=list, description="Similar cases shown in the prompt (retrieval-augmented examples); never the case itself.")


@dataclass
class EncodedExample:
    """Token ids of one example; ``n_prompt`` leading tokens are masked out of the loss."""

    id: str
    input_ids: list[int]
    n_prompt: int


def examples_sha256(examples: Sequence[TrainExample]) -> str:
    """sha256 of the canonical JSON of the examples, in order (recorded in the manifest)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps(ex.model_dump(mode="json"), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def prompt_text(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The chat-formatted prompt, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def encode_examples(tokenizer: Any, examples: Sequence[TrainExample], max_seq_len: int) -> list[EncodedExample]:
    """Tokenize prompt + target + eos; cut at ``max_seq_len``; drop examples with no room for a target."""
    if tokenizer.eos_token_id is None:
        raise TrainingDataError("the tokenizer has no eos token", hint="use a chat model whose tokenizer defines eos_token")
    encoded: list[EncodedExample] = []
    dropped: list[str] = []
    for ex in examples:
        prompt = tokenizer(prompt_text(tokenizer, ex.messages), add_special_tokens=False)["input_ids"]
        target = tokenizer(ex.target.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if max_seq_len - len(prompt) < min(MIN_TARGET_TOKENS, len(target)):
            dropped.append(ex.id)
            continue
        encoded.append(EncodedExample(ex.id, (prompt + target)[:max_seq_len], len(prompt)))
    if dropped:
        log.warning("dropped %d example(s) whose prompt does not fit max_seq_len=%d (e.g. %s)", len(dropped), max_seq_len, dropped[0])
    if examples and not encoded:
        raise TrainingDataError(
            f"every example is longer than max_seq_len={max_seq_len} tokens before its impression starts",
            hint="raise --max-seq-len (the default 384 fits the Indiana reports)",
        )
    return encoded


def collate(batch: Sequence[EncodedExample], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch to its longest example: input_ids, attention_mask and masked labels."""
    import torch

    width = max(len(ex.input_ids) for ex in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for row, ex in enumerate(batch):
        n = len(ex.input_ids)
        ids = torch.tensor(ex.input_ids, dtype=torch.long)
        input_ids[row, :n] = ids
        attention[row, :n] = 1
        labels[row, ex.n_prompt : n] = ids[ex.n_prompt :]
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
