r"""An OpenAI-compatible HTTP server over the zoo (``sagehealth serve-model``).

Any OpenAI client, LangChain's ``ChatOpenAI`` or another SAGE-Health install (through the
zoo's ``openai`` backend) can then use the local model and its LoRA adapters::

    sagehealth serve-model --model smollm2-135m --adapter impressions-v1 --port 8001
    curl -s localhost:8001/v1/chat/completions -H 'content-type: application/json' \
      -d '{"model": "smollm2-135m:impressions-v1", "messages": [{"role": "user", "content": "Hi"}]}'

Endpoints are plain ``def`` so FastAPI runs them in its thread pool: generation blocks, and
the chat model's own lock serializes adapter switches between concurrent requests.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from core.errors import SageError
from models.lm.types import Generation, GenerationParams
from models.openai_schema import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ErrorBody,
    Health,
    ModelCard,
    ModelList,
    Usage,
)
from models.zoo import ModelZoo, split_model_ref

# By class name: adapter errors live in models.adapt, which is imported only when an adapter is used.
STATUS_BY_ERROR = {
    "UnknownModelError": 404, "UnknownAdapterError": 404, "ContextLengthError": 400, "AdapterBaseMismatchError": 400, "InvalidAdapterNameError": 400,
    "ZooConfigError": 400, "EndpointUnreachableError": 502, "EndpointResponseError": 502,
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Prompt too long for the context, adapter for another base model, non-chat model."},
    404: {"model": ErrorBody, "description": "Unknown model or adapter."},
    500: {"model": ErrorBody, "description": "The model could not be loaded."},
    502: {"model": ErrorBody, "description": "The upstream OpenAI-compatible endpoint failed."},
}


def _status_for(exc: SageError) -> int:
    return next((STATUS_BY_ERROR[c.__name__] for c in type(exc).__mro__ if c.__name__ in STATUS_BY_ERROR), 500)


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind, "param": None, "code": str(status)}})


def _params(req: ChatCompletionRequest) -> GenerationParams:
    temperature = req.temperature if req.temperature is not None else 0.0
    if req.top_p == 0.0:  # nucleus of zero mass: only the top token, i.e. greedy
        temperature = 0.0
    return GenerationParams(
        max_new_tokens=req.max_completion_tokens or req.max_tokens or 128, temperature=temperature,
        top_p=req.top_p or 1.0, seed=req.seed, stop=req.stop_list(),
    )


def create_model_server(zoo: ModelZoo, default_model: str, default_adapter: str | None = None) -> FastAPI:
    """Build the FastAPI app.

    Args:
        zoo: Where models come from (loaded on first request, then cached).
        default_model: Used when a request omits ``model``.
        default_adapter: Used with the default model when a request omits ``model``.
    """
    zoo.spec(default_model)  # fail at start-up, not on the first request, for a typo
    app = FastAPI(title="SAGE-Health model server", version="1", description="OpenAI-compatible chat completions over the SAGE-Health model zoo.")

    @app.exception_handler(SageError)
    def _sage_error(_: Request, exc: SageError) -> JSONResponse:
        return _error(_status_for(exc), str(exc), type(exc).__name__)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(default_model=default_model, loaded=zoo.loaded())

    @app.get("/v1/models", response_model=ModelList)
    def list_models() -> ModelList:
        ids = [s.spec.name for s in zoo.list() if s.available and {"chat", "report"} & set(s.spec.roles)]
        if default_adapter:
            ids.append(f"{default_model}:{default_adapter}")
        return ModelList(data=[ModelCard(id=i) for i in ids])

    @app.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERROR_RESPONSES)
    def chat_completions(req: ChatCompletionRequest) -> Any:
        name, adapter = split_model_ref(req.model) if req.model else (default_model, default_adapter)
        model_id = f"{name}:{adapter}" if adapter else name
        chat = zoo.chat_model(name)
        messages = [m.as_text() for m in req.messages]
        params = _params(req)
        created, cid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        if req.stream and req.n == 1:
            stream = chat.stream(messages, params, adapter)
            # Pull the first chunk here so a bad adapter or an over-long prompt is an HTTP error,
            # not a broken event stream.
            first = next(stream, None)
            events = _sse_single(stream, first, cid, created, model_id, bool(req.stream_options and req.stream_options.include_usage))
            return StreamingResponse(events, media_type="text/event-stream")
        if params.greedy or req.n == 1:
            # Greedy choices are identical: decode once.
            results = chat.generate_batch([messages], params, adapter) * req.n
        else:
            results = chat.generate_batch([messages] * req.n, params, adapter)
        completion = _completion(results, cid, created, model_id)
        if req.stream:
            return StreamingResponse(_sse_replay(completion), media_type="text/event-stream")
        return completion

    return app


def _completion(results: list[Generation], cid: str, created: int, model_id: str) -> ChatCompletion:
    completion_tokens = sum(r.output_tokens for r in results)
    return ChatCompletion(
        id=cid, created=created, model=model_id,
        choices=[Choice(index=i, message=AssistantMessage(content=r.text), finish_reason=r.finish_reason) for i, r in enumerate(results)],
        usage=Usage(prompt_tokens=results[0].input_tokens, completion_tokens=completion_tokens, total_tokens=results[0].input_tokens + completion_tokens),
    )


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _chunk(cid: str, created: int, model_id: str, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_id, "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return _event(body)


def _sse_single(stream: Any, first: str | None, cid: str, created: int, model_id: str, include_usage: bool) -> Iterator[str]:
    yield _chunk(cid, created, model_id, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    pieces = stream if first is None else _prepend(first, stream)
    for piece in pieces:
        yield _chunk(cid, created, model_id, [{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
    final = stream.generation
    yield _chunk(cid, created, model_id, [{"index": 0, "delta": {}, "finish_reason": final.finish_reason if final else "stop"}])
    if include_usage and final is not None:
        usage = {"prompt_tokens": final.input_tokens, "completion_tokens": final.output_tokens, "total_tokens": final.input_tokens + final.output_tokens}
        yield _chunk(cid, created, model_id, [], usage)
    yield "data: [DONE]\n\n"


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _sse_replay(completion: ChatCompletion) -> Iterator[str]:
    """Replay a finished n > 1 completion as events: one delta per choice (choices decode as a batch)."""
    cid, created, model_id = completion.id, completion.created, completion.model
    for choice in completion.choices:
        delta = {"role": "assistant", "content": choice.message.content}
        yield _chunk(cid, created, model_id, [{"index": choice.index, "delta": delta, "finish_reason": choice.finish_reason}])
    yield "data: [DONE]\n\n"
