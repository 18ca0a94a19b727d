"""What every chat backend (local transformers, OpenAI-compatible HTTP) takes and returns.

Agents and the model server code against :class:`ChatModel` only, so swapping the local
SmolLM2 for a hosted vLLM/Ollama model is a zoo entry, not a code change. Messages are plain
OpenAI-style dicts (``{"role": "user", "content": "..."}``) because that is what chat
templates and HTTP endpoints both consume.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.errors import SageError

Message = dict[str, str]
FinishReason = Literal["stop", "length"]


class GenerationParams(BaseModel):
    """Decoding settings for one call. Strict: ``temperature=False`` is an error, not 0.0."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    max_new_tokens: int = Field(default=128, ge=1, le=4096, description="Upper bound on generated tokens.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 means greedy decoding (deterministic); >0 samples.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling mass; used only when temperature > 0.")
    seed: int | None = Field(default=None, ge=0, description="Seed for sampling; the same seed gives the same text.")
    stop: list[str] = Field(default_factory=list, max_length=8, description="Generation ends before the first of these strings.")

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (temperature 0)."""
        return self.temperature == 0.0


class Generation(BaseModel):
    """One finished completion with its usage, as recorded in spans and returned by the server."""

    text: str
    model: str
    adapter: str | None = None
    input_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    latency_s: float


class ContextLengthError(SageError):
    """The prompt does not fit in the model's context window."""


class ChatStream(Iterator[str]):
    """Text chunks of one streamed completion; ``generation`` is set once the stream is exhausted.

    Iterating yields only new text (stop strings already removed); after the last chunk the
    final :class:`Generation` (usage, finish reason) is available without a second call.
    """

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self.generation: Generation | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._chunks)


@runtime_checkable
class ChatModel(Protocol):
    """A chat-capable language model (local or remote)."""

    @property
    def name(self) -> str:
        """Zoo name of the model (what spans and the server report)."""
        ...

    @property
    def context_length(self) -> int:
        """Maximum number of tokens (prompt + completion) the model attends to."""
        ...

    def generate(self, messages: Sequence[Message], params: GenerationParams | None = None, adapter: str | None = None) -> Generation:
        """Complete one conversation."""
        ...

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams | None = None, adapter: str | None = None
    ) -> list[Generation]:
        """Complete several conversations in one batched pass where the backend allows it."""
        ...

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None, adapter: str | None = None) -> ChatStream:
        """Complete one conversation, yielding text as it is produced."""
        ...

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens of a conversation after the chat template is applied."""
        ...
