"""Request and response bodies of the OpenAI-compatible chat API served by ``models.serve``.

Requests are strict (``"temperature": false`` is a 422, not 0.0) so that fuzzers and careless
clients get a clear error instead of a silently different generation. Parameters that OpenAI
clients send by default but a local model cannot honour (penalties, logprobs, tools) are
accepted and ignored; unknown fields are ignored too, as OpenAI-compatible servers do.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(strict=True, extra="ignore")


class ContentPart(BaseModel):
    """One part of a multi-part message; only ``text`` parts carry content for a text model."""

    model_config = STRICT
    type: str = Field(max_length=64)
    text: str | None = None


class ChatMessageIn(BaseModel):
    """One conversation turn."""

    model_config = STRICT
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=128)

    def as_text(self) -> dict[str, str]:
        """The ``{"role", "content"}`` dict a chat template expects (developer → system)."""
        if isinstance(self.content, list):
            text = "".join(part.text or "" for part in self.content if part.type == "text")
        else:
            text = self.content or ""
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class StreamOptions(BaseModel):
    """``stream_options``: whether a final usage chunk is sent."""

    model_config = STRICT
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``; ``model`` is ``"name"`` or ``"name:adapter"`` (server default when omitted)."""

    model_config = STRICT
    model: str | None = Field(default=None, min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=256)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=8)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    stop: str | list[str] | None = Field(default=None, description="Up to 4 stop strings.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Accepted for compatibility and ignored: a local greedy/nucleus decoder has no use for them.
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = Field(default=None, max_length=256)
    response_format: dict[str, Any] | None = None

    def stop_list(self) -> list[str]:
        """``stop`` as a list (OpenAI allows one string or up to four)."""
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stops if s][:4]


class Usage(BaseModel):
    """Token usage of one request (all choices)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    """The generated turn."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """One of the ``n`` completions."""

    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    """Non-streamed answer."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "sagehealth"


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    """OpenAI-style error payload."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """Body of every 4xx/5xx answer except request validation (422, FastAPI's ``detail`` list)."""

    error: ErrorDetail


class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok"] = "ok"
    default_model: str
    loaded: list[str]
