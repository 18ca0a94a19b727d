"""Stop sequences: end generation at a string, and cut the string from the returned text.

Token boundaries rarely line up with a stop string (a blank line may be half of one token and
half of the next), so the check runs on decoded text of each row's generated tail, never on
token ids, and never looks at the prompt (which may itself contain the stop string).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import StoppingCriteria


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def stream_safe_prefix(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The part of a growing text that can be shown now without ever showing a stop string.

    Holds back a tail that could still become the start of a stop string once more tokens
    arrive; returns (safe text, stop found).
    """
    cut, found = cut_at_stop(text, stops)
    if found or not stops:
        return cut, found
    hold = max(len(s) for s in stops) - 1
    for size in range(min(hold, len(text)), 0, -1):
        tail = text[-size:]
        if any(s.startswith(tail) for s in stops):
            return text[:-size], False
    return text, False


class StopOnText(StoppingCriteria):
    """Marks a row finished once its generated text contains any stop string.

    Args:
        tokenizer: Decodes the generated tail of each row.
        stops: Stop strings.
        prompt_length: Padded prompt length; only tokens after it are inspected.
    """

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_length = prompt_length
        # Every token decodes to at least one character in practice, so this many tail tokens
        # always cover a stop string that just completed (plus slack for special tokens).
        self.window = max((len(s) for s in self.stops), default=1) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        """One flag per row: True once that row's generated text holds a stop string."""
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        start = max(self.prompt_length, input_ids.shape[1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        for row, tail in enumerate(tails):
            done[row] = any(s in tail for s in self.stops)
        return done  # type: ignore[return-value]
