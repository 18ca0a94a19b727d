"""A chat model running in-process on transformers (CPU by default, CUDA when asked and present).

One :class:`LocalChatModel` wraps one loaded causal LM. Calls are serialized with a lock: the
model server answers requests from a thread pool, and a LoRA adapter switch (PEFT
``set_adapter``) in the middle of another request's decoding would silently change its output.
Under greedy decoding the batched, streamed and single paths return the same text, which the
tests check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from opentelemetry.trace import StatusCode

from core.settings import Settings
from core.telemetry import get_tracer
from models.lm.loader import ModelLoadError, load_causal_lm
from models.lm.spans import record_chat
from models.lm.stopping import StopOnText, cut_at_stop, stream_safe_prefix
from models.lm.types import ChatStream, ContextLengthError, Generation, GenerationParams, Message

log = logging.getLogger(__name__)

DEFAULT_PARAMS = GenerationParams()


def resolve_device(device: str) -> str:
    """Map the settings value (auto|cpu|cuda) to a torch device that exists here."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("SAGE_DEVICE=cuda but no CUDA device is visible to torch", hint="set SAGE_DEVICE=cpu or auto")
    return device


@contextmanager
def _seeded(seed: int | None, device: str) -> Iterator[None]:
    # fork_rng restores the global RNG afterwards, so a seeded call does not make later
    # unseeded sampling in the same process repeat itself.
    if seed is None:
        yield
        return
    devices = [torch.cuda.current_device()] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class LocalChatModel:
    """:class:`~models.lm.types.ChatModel` over a transformers causal LM and its chat template.

    Args:
        name: Zoo name, reported in spans and by the server.
        model: A loaded ``PreTrainedModel`` in eval mode.
        tokenizer: Its tokenizer (must carry a chat template).
        context_length: Token window; defaults to the config's ``max_position_embeddings``.
        settings: Needed only to find LoRA adapters (``settings.adapters_dir``).
    """

    def __init__(self, name: str, model: Any, tokenizer: Any, context_length: int | None = None, settings: Settings | None = None) -> None:
        self._name = name
        self.model = model
        self.tokenizer = tokenizer
        # Left padding keeps every row's last prompt token at the same position, so batched
        # decoding appends to the real end of each prompt.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._context = context_length if context_length else int(getattr(model.config, "max_position_embeddings", 2048))
        self._settings = settings
        self._switcher: Any = None
        self._lock = threading.Lock()
        eos = model.generation_config.eos_token_id
        self._eos_ids = {int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None}
        if self.tokenizer.pad_token_id is not None:  # pad fills rows that ended early
            self._eos_ids.add(int(self.tokenizer.pad_token_id))

    @classmethod
    def from_folder(cls, name: str, folder: Path, device: str = "auto", context_length: int | None = None, settings: Settings | None = None) -> LocalChatModel:
        """Load a ``save_pretrained`` folder (raises ``ModelLoadError`` when missing or corrupt)."""
        from safetensors import SafetensorError

        try:
            model, tokenizer = load_causal_lm(folder, resolve_device(device))
        except SafetensorError as exc:  # a truncated weights file; load_causal_lm covers the rest
            raise ModelLoadError(f"model folder {folder} has unreadable weights: {exc}", hint=f"delete {folder} and run again to rebuild it") from exc
        return cls(name, model, tokenizer, context_length=context_length, settings=settings)

    @property
    def name(self) -> str:
        """Zoo name of the model."""
        return self._name

    @property
    def context_length(self) -> int:
        """Token window (prompt + completion)."""
        return self._context

    @property
    def device(self) -> str:
        """Torch device the weights live on."""
        return str(self.model.device)

    def prompt_text(self, messages: Sequence[Message]) -> str:
        """The conversation rendered by the model's chat template, ending with the assistant turn."""
        return self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens after the chat template is applied."""
        return len(self.tokenizer(self.prompt_text(messages), add_special_tokens=False)["input_ids"])

    def generate(self, messages: Sequence[Message], params: GenerationParams | None = None, adapter: str | None = None) -> Generation:
        """Complete one conversation (greedy unless ``params.temperature > 0``)."""
        return self.generate_batch([messages], params, adapter)[0]

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], params: GenerationParams | None = None, adapter: str | None = None
    ) -> list[Generation]:
        """Complete several conversations in one left-padded batch."""
        params = params or DEFAULT_PARAMS
        if not conversations:
            return []
        with get_tracer().start_as_current_span(f"chat {self._name}") as span, self._lock:
            started = time.perf_counter()
            enc, max_new, lengths = self._encode(conversations, params)
            model = self._model_for(adapter)
            out = self._run(model, enc, params, max_new)
            latency = time.perf_counter() - started
            prompt_len = enc["input_ids"].shape[1]
            results = [self._finish(out[i, prompt_len:], params, lengths[i], latency, adapter) for i in range(len(conversations))]
            record_chat(span, "transformers", self._name, params, adapter, results)
        return results

    def stream(self, messages: Sequence[Message], params: GenerationParams | None = None, adapter: str | None = None) -> ChatStream:
        """Yield text as it is decoded; the final :class:`Generation` is set on the stream at the end."""
        params = params or DEFAULT_PARAMS
        handle = ChatStream(iter(()))
        handle._chunks = self._stream_chunks(messages, params, adapter, handle)
        return handle

    def _stream_chunks(self, messages: Sequence[Message], params: GenerationParams, adapter: str | None, handle: ChatStream) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        span = get_tracer().start_span(f"chat {self._name}")
        self._lock.acquire()
        thread: threading.Thread | None = None
        try:
            started = time.perf_counter()
            enc, max_new, lengths = self._encode([messages], params)
            model = self._model_for(adapter)
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            box: dict[str, Any] = {}

            def work() -> None:
                try:
                    box["out"] = self._run(model, enc, params, max_new, streamer=streamer)
                except Exception as exc:  # noqa: BLE001 - re-raised in the consuming thread below
                    box["error"] = exc
                    streamer.end()

            thread = threading.Thread(target=work, name=f"stream-{self._name}", daemon=True)
            thread.start()
            shown, buffer = "", ""
            for piece in streamer:
                buffer += piece
                safe, found = stream_safe_prefix(buffer, params.stop)
                if len(safe) > len(shown):
                    yield safe[len(shown) :]
                    shown = safe
                if found:
                    break
            thread.join()
            if "error" in box:
                raise box["error"]
            result = self._finish(box["out"][0, enc["input_ids"].shape[1] :], params, lengths[0], time.perf_counter() - started, adapter)
            if result.text.startswith(shown) and len(result.text) > len(shown):
                yield result.text[len(shown) :]
            handle.generation = result
            record_chat(span, "transformers", self._name, params, adapter, [result])
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            if thread is not None:
                thread.join()
            self._lock.release()
            span.end()

    def _encode(self, conversations: Sequence[Sequence[Message]], params: GenerationParams) -> tuple[Any, int, list[int]]:
        texts = [self.prompt_text(c) for c in conversations]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        lengths = [int(n) for n in enc["attention_mask"].sum(dim=1)]
        longest = max(lengths)
        if longest >= self._context:
            raise ContextLengthError(
                f"prompt has {longest} tokens but model {self._name!r} has a context of {self._context} tokens",
                hint="shorten the input (fewer retrieved examples, shorter findings) or pick a model with a longer context",
            )
        # Completion is clipped to what still fits; finish_reason then says "length".
        max_new = min(params.max_new_tokens, self._context - longest)
        return enc.to(self.model.device), max_new, lengths

    def _model_for(self, adapter: str | None) -> Any:
        if adapter is None and self._switcher is None:
            return self.model
        if self._switcher is None:
            if self._settings is None:
                raise ModelLoadError(f"model {self._name!r} was built without settings, so adapter {adapter!r} cannot be found", hint="load the model through ModelZoo(settings)")
            try:
                from models.adapt.registry import AdapterRegistry
                from models.adapt.runtime import AdapterSwitcher
            except ImportError as exc:
                raise ModelLoadError(f"adapter {adapter!r} requested but the adaptation hub cannot be imported: {exc}", hint="reinstall the project (`make install`)") from exc
            self._switcher = AdapterSwitcher(self.model, AdapterRegistry(self._settings), base_name=self._name)
        return self._switcher.activate(adapter)

    def _run(self, model: Any, enc: Any, params: GenerationParams, max_new: int, streamer: Any = None) -> torch.Tensor:
        from transformers import StoppingCriteriaList

        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": not params.greedy, "pad_token_id": self.tokenizer.pad_token_id}
        if not params.greedy:
            # OpenAI semantics: temperature and nucleus only (transformers would add top_k=50).
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs["stopping_criteria"] = StoppingCriteriaList([StopOnText(self.tokenizer, params.stop, enc["input_ids"].shape[1])])
        if streamer is not None:
            kwargs["streamer"] = streamer
        with torch.inference_mode(), _seeded(params.seed, self.device):
            return model.generate(**enc, **kwargs)

    def _finish(self, ids: torch.Tensor, params: GenerationParams, input_tokens: int, latency: float, adapter: str | None) -> Generation:
        tokens = ids.tolist()
        end = next((i for i, t in enumerate(tokens) if t in self._eos_ids), None)
        content = tokens if end is None else tokens[:end]
        text, stopped = cut_at_stop(self.tokenizer.decode(content, skip_special_tokens=True), params.stop)
        return Generation(
            text=text,
            model=self._name,
            adapter=adapter,
            input_tokens=input_tokens,
            output_tokens=len(content),
            finish_reason="stop" if stopped or end is not None else "length",
            latency_s=round(latency, 4),
        )
