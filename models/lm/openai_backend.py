"""A chat model behind any OpenAI-compatible HTTP endpoint (vLLM, Ollama, llama.cpp, our own server).

Larger hosted models plug in here without code changes: the zoo builds an
:class:`OpenAIChatModel` from ``SAGE_OPENAI_BASE_URL`` / ``SAGE_OPENAI_MODEL`` or a zoo.json
entry. Only ``/v1/chat/completions`` is used (plain and SSE streaming), so anything that speaks
that one route works. Adapters are requested as the model id ``"{model}:{adapter}"`` (our
server's convention); vLLM users serving LoRA modules set ``adapter_format="{adapter}"``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from opentelemetry.trace import StatusCode

from core.errors import SageError
from core.telemetry import get_tracer
from models.lm.spans import record_chat
from models.lm.types import ChatStream, FinishReason, Generation, GenerationParams, Message

DEFAULT_PARAMS = GenerationParams()


class EndpointUnreachableError(SageError):
    """The OpenAI-compatible endpoint did not answer (refused, DNS, timeout)."""


class EndpointResponseError(SageError):
    """The endpoint answered with an error status or a body that is not a chat completion."""


def _finish_reason(value: Any) -> FinishReason:
    return "length" if value == "length" else "stop"


class OpenAIChatModel:
    """:class:`~models.lm.types.ChatModel` over ``POST {base_url}/chat/completions``.

    Args:
        base_url: Endpoint root, with or without the trailing ``/v1``.
        model: Model id to request.
        api_key: Sent as a bearer token when given.
        timeout: Seconds to wait for a whole non-streamed answer (and per chunk when streaming).
        name: Zoo name reported in spans; defaults to ``model``.
        context_length: Window of the remote model (the API does not report it).
        adapter_format: How an adapter name becomes the requested model id.
    """

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0, *, name: str | None = None,
        context_length: int = 8192, adapter_format: str = "{model}:{adapter}",
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else f"{root}/v1"
        self.model = model
        self._name = name or model
        self._context = context_length
        self.adapter_format = adapter_format
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    @property
    def name(self) -> str:
        """Zoo name of the model."""
        return self._name

    @property
    def context_length(self) -> int:
        """Configured token window of the remote model."""
        return self._context

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Estimate (about 4 characters per token): the OpenAI API has no tokenize route."""
        return sum(len(m.get("content", "")) for m in messages) // 4 + 4 * len(messages)

    def _payload(self, messages: Sequence[Message], params: GenerationParams, adapter: str | None, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.adapter_format.format(model=self.model, adapter=adapter) if adapter else self.model,
            "messages": list(messages), "max_tokens": params.max_new_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "stream": stream,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _unreachable(self, exc: httpx.HTTPError) -> EndpointUnreachableError:
        return EndpointUnreachableError(
            f"cannot reach the OpenAI-compatible endpoint {self.base_url}/chat/completions: {type(exc).__name__}: {exc}",
            hint="start the server (e.g. `sagehealth serve-model`, vLLM, Ollama) or fix SAGE_OPENAI_BASE_URL / the zoo.json location",
        )

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()
            raise EndpointResponseError(
                f"{self.base_url}/chat/completions answered {response.status_code} for model {self.model!r}: {response.text[:300]}",
                hint="check the model id (GET /v1/models) and the request parameters",
            )

    def generate(self, messages: Sequence[Message], params: GenerationParams | None = None, adapter: str | None = None) -> Generation:
        """One non-streamed completion."""
        params = params or DEFAULT_PARAMS
        with get_tracer().start_as_current_span(f"chat {self._name}") as span:
            started = time.perf_counter()
            try:
                response = self._client.post("/chat/completions", json=self._payload(messages, params, adapter, stream=False))
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
            self._check(response)
            try:
                data = response.json()
                choice = data["choices"][0]
                text = choice["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise EndpointResponseError(f"{self.base_url} returned a body that is not a chat completion: {response.text[:200]}", hint="is this an OpenAI-compatible server?") from exc
            usage = data.get("usage") or {}
            result = Generation(
                text=text, model=self._name, adapter=adapter,
                input_tokens=int(usage.get("prompt_tokens", self.count_tokens(messages))),
                output_tokens=int(usage.get("completion_tokens", len(text) // 4)),
                finish_reason=_finish_reason(choice.get("finish_reason")), latency_s=round(time.perf_counter() - started, 4),
            )
            record_chat(span, "openai", self._name, params, adapter, [result])
        return result

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams | None = None, adapter: str | None = None
    ) -> list[Generation]:
        """One request per conversation (the chat API has no batch route; servers batch internally)."""
        return [self.generate(c, params, adapter) for c in conversations]

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None, adapter: str | None = None) -> ChatStream:
        """Server-sent events from ``stream=true``; usage comes from the last chunk when the server sends it."""
        handle = ChatStream(iter(()))
        handle._chunks = self._stream_chunks(messages, params or DEFAULT_PARAMS, adapter, handle)
        return handle

    def _stream_chunks(self, messages: Sequence[Message], params: GenerationParams, adapter: str | None, handle: ChatStream) -> Iterator[str]:
        # Not a "current" span: a generator may be resumed in another thread or context.
        span = get_tracer().start_span(f"chat {self._name}")
        try:
            started = time.perf_counter()
            parts: list[str] = []
            finish: Any = None
            usage: dict[str, Any] = {}
            try:
                with self._client.stream("POST", "/chat/completions", json=self._payload(messages, params, adapter, stream=True)) as response:
                    self._check(response)
                    for line in response.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[len("data:") :].strip()
                        if data == "[DONE]":
                            break
                        chunk = json.loads(data)
                        usage = chunk.get("usage") or usage
                        for choice in chunk.get("choices") or []:
                            finish = choice.get("finish_reason") or finish
                            piece = (choice.get("delta") or {}).get("content")
                            if piece:
                                parts.append(piece)
                                yield piece
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
            text = "".join(parts)
            handle.generation = Generation(
                text=text, model=self._name, adapter=adapter,
                input_tokens=int(usage.get("prompt_tokens", self.count_tokens(messages))),
                output_tokens=int(usage.get("completion_tokens", len(parts))),
                finish_reason=_finish_reason(finish), latency_s=round(time.perf_counter() - started, 4),
            )
            record_chat(span, "openai", self._name, params, adapter, [handle.generation])
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            span.end()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
