"""The ``chat {model}`` span attributes, written the same way by every chat backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.telemetry import Attr
from models.lm.types import Generation, GenerationParams


def record_chat(span: Any, provider: str, model: str, params: GenerationParams, adapter: str | None, results: Sequence[Generation]) -> None:
    """Set GenAI request/usage attributes on a finished ``chat`` span (usage summed over a batch)."""
    span.set_attribute(Attr.OPERATION, "chat")
    span.set_attribute(Attr.PROVIDER, provider)
    span.set_attribute(Attr.REQUEST_MODEL, model)
    span.set_attribute(Attr.RESPONSE_MODEL, results[0].model if results else model)
    span.set_attribute(Attr.MAX_TOKENS, params.max_new_tokens)
    span.set_attribute(Attr.TEMPERATURE, params.temperature)
    if params.seed is not None:
        span.set_attribute(Attr.SEED, params.seed)
    span.set_attribute(Attr.INPUT_TOKENS, sum(r.input_tokens for r in results))
    span.set_attribute(Attr.OUTPUT_TOKENS, sum(r.output_tokens for r in results))
    span.set_attribute(Attr.FINISH_REASONS, [r.finish_reason for r in results])
    span.set_attribute(Attr.ADAPTER, adapter or "")
