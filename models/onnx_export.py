"""The embedder as an ONNX graph for ONNX Runtime: exported once per model, cached, parity-checked.

Why ONNX Runtime: on CPU one short query costs ~3 ms in ORT against ~10 ms in torch eager, and
``InferenceSession.run`` releases the GIL, so concurrent searches run in parallel instead of
queuing on Python glue (docs/models.md, "Embedder and image encoder").

The graph is the whole sentence-transformers pipeline (:class:`PooledEncoder`: BERT, mean pooling
over the attention mask, L2 normalisation), so ORT returns the final vectors. It is traced from
the torch model (``torch.onnx.export``, TorchScript exporter, opset 17) and cached under a name
that fingerprints everything that decides the graph (:func:`cached_model_path`): a changed model
or torch re-exports, an unchanged one is reused.

Nothing unverified is ever used. An export is compared with the torch engine on
:data:`PROBE_TEXTS` before it is written (max abs difference <= :data:`PARITY_ATOL`), and those
torch vectors travel inside the file (ONNX metadata), so every later load re-checks the cached
graph against them without loading torch weights: a truncated or corrupt file, or an ONNX Runtime
upgrade that changes the numbers, means a new export rather than different vectors.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from core.errors import SageError
from models.embedder import _mean_pool

log = logging.getLogger(__name__)

OPSET = 17
EXPORT_VERSION = 1  # bump when PooledEncoder or the export call changes: it is part of the cache key
PARITY_ATOL = 1e-4  # max abs difference per component against torch (measured: ~2e-7)
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "embedding"
REFERENCE_KEY = "sagehealth.probe_embeddings"  # ONNX metadata: torch's float32 vectors of PROBE_TEXTS, base64

# Short report sentences of different lengths, then one that exceeds 256 tokens (truncated): see parity_error.
PROBE_TEXTS = (
    "No acute cardiopulmonary process.",
    "Small left pleural effusion with adjacent atelectasis.",
    "The heart size is normal. The mediastinal contour is within normal limits. There is no focal airspace consolidation, pleural effusion or pneumothorax.",
    "Interval placement of a right internal jugular central venous catheter with tip in the mid superior vena cava; no pneumothorax.",
    " ".join(["Stable mild cardiomegaly with pulmonary vascular congestion and bibasilar opacities, likely edema."] * 20),
)

_ORT_LOAD_ERRORS = (ort_state.Fail, ort_state.InvalidArgument, ort_state.InvalidGraph, ort_state.InvalidProtobuf, ort_state.NoSuchFile, OSError)
_EXPORT_ERRORS = (RuntimeError, TypeError, ValueError, *_ORT_LOAD_ERRORS)

Tokenize = Callable[[list[str]], Mapping[str, Any]]


class OnnxExportError(SageError):
    """The model could not be exported, or its ONNX graph does not reproduce the torch vectors."""


class PooledEncoder(torch.nn.Module):
    """BERT plus mean pooling and L2 normalisation: the graph returns finished sentence vectors.

    Pooling inside the graph keeps the (batch, seq, hidden) activations in ORT instead of copying
    them to NumPy. Inputs go to the model by keyword: ``BertModel.forward``'s positional order is
    not ``input_ids, attention_mask, token_type_ids``.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """(batch, hidden) unit vectors, padding excluded from the mean."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        return torch.nn.functional.normalize(_mean_pool(hidden, attention_mask), p=2, dim=1)


def fingerprint(folder: Path) -> str:
    """sha256 over what decides the graph: config, weight bytes, torch version, opset, export version.

    The tokenizer is not included: it runs outside the graph. Hashing ~90 MB costs ~0.1 s per
    construction, far less than loading the torch weights it spares.
    """
    digest = hashlib.sha256(f"torch={torch.__version__};opset={OPSET};export={EXPORT_VERSION}".encode())
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    for path in [folder / "config.json", *weights]:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def cached_model_path(cache_dir: Path, folder: Path) -> Path:
    """Where the export of the model in ``folder`` lives in ``cache_dir``."""
    return cache_dir / f"embedder-{fingerprint(folder)[:24]}.onnx"


def prune_others(keep: Path) -> list[Path]:
    """Delete the exports beside ``keep`` (stale: made for another model or torch); returns what went."""
    gone = []
    for other in sorted(keep.parent.glob("embedder-*.onnx")):
        if other != keep:
            other.unlink(missing_ok=True)
            gone.append(other)
    if gone:
        log.info("removed %d stale embedder export(s) from %s", len(gone), keep.parent)
    return gone


def open_session(model: Path | bytes) -> ort.InferenceSession:
    """An ORT CPU session with one intra-op and one inter-op thread.

    Parallelism comes from the callers instead (ORT releases the GIL during ``run``): on a small,
    shared machine a per-session thread pool only adds spinning threads that contend with them.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def feeds(encoded: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The graph's int64 inputs from a tokenizer's output; absent token types are zeros, as BERT assumes."""
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    types = encoded.get("token_type_ids")
    return {
        "input_ids": ids,
        "attention_mask": np.asarray(encoded["attention_mask"], dtype=np.int64),
        "token_type_ids": np.zeros_like(ids) if types is None else np.asarray(types, dtype=np.int64),
    }


def run(session: ort.InferenceSession, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """float32 (batch, dim) unit vectors."""
    return np.asarray(session.run([OUTPUT_NAME], dict(inputs))[0], dtype=np.float32)


def parity_error(session: ort.InferenceSession, tokenize: Tokenize, reference: np.ndarray) -> float:
    """Max abs difference between the session's probe vectors and the torch reference (~0.1 s).

    The short probes run as one padded batch (the traced mask handling), the long one alone (all
    256 positions, without paying for padding the short ones to it).
    """
    short, long = list(PROBE_TEXTS[:-1]), list(PROBE_TEXTS[-1:])
    vectors = np.vstack([run(session, feeds(tokenize(short))), run(session, feeds(tokenize(long)))])
    return float(np.abs(vectors - reference).max())


def load_verified(path: Path, tokenize: Tokenize) -> ort.InferenceSession | None:
    """The cached session if the file loads and reproduces its stored probe vectors; None: export again."""
    if not path.is_file():
        return None
    try:
        session = open_session(path)
        reference = _stored_reference(session)
        error = parity_error(session, tokenize, reference) if reference is not None else float("inf")
    except (*_ORT_LOAD_ERRORS, ValueError) as exc:  # ValueError: stored vectors of the wrong size
        log.warning("cached ONNX embedder %s does not load (%s); exporting it again", path, exc)
        return None
    if error > PARITY_ATOL:
        log.warning("cached ONNX embedder %s does not reproduce the torch vectors stored in it (max diff %.2e; inf: none stored); exporting it again", path, error)
        return None
    return session


def export(model: torch.nn.Module, tokenize: Tokenize, reference: np.ndarray, path: Path) -> ort.InferenceSession:
    """Export ``model`` with pooling, check it against ``reference`` (torch on PROBE_TEXTS), then cache it.

    The session returned is the checked one, built from the bytes in memory, so a cache folder
    that cannot be written costs the cache (a warning), not the speed-up.

    Raises:
        OnnxExportError: export failed, or the graph differs from torch by more than PARITY_ATOL.
    """
    log.info("exporting the embedder to ONNX at %s (once per model and torch version)", path)
    try:
        data = _with_reference(_trace(model, tokenize), reference)
        session = open_session(data)
        error = parity_error(session, tokenize, reference)
    except _EXPORT_ERRORS as exc:
        raise OnnxExportError(f"ONNX export of the embedder failed: {exc}", hint="the torch engine is used; set SAGE_EMBED_ENGINE=torch to skip the attempt") from exc
    if error > PARITY_ATOL:
        raise OnnxExportError(
            f"the ONNX embedder differs from torch by {error:.2e} on the probe texts (limit {PARITY_ATOL:.0e})",
            hint="the torch engine is used; report the torch and onnxruntime versions",
        )
    try:
        _write_atomic(path, data)
    except OSError as exc:
        log.warning("could not cache the ONNX embedder at %s (%s); it will be exported again next time", path, exc)
    return session


def _trace(model: torch.nn.Module, tokenize: Tokenize) -> bytes:
    """Serialized ONNX graph of ``PooledEncoder(model)``, batch and sequence dynamic.

    The example is two short probes of different lengths: padded, so the traced mask handling
    is the padded one, and short, since the trace runs the model once (~0.3 s less than 256 tokens).
    ``eval()`` matters: a fresh module is in training mode, and the exporter restores that mode
    onto the wrapped model afterwards (dropout would then change every later torch vector).
    """
    encoder = PooledEncoder(model).eval()
    example = {name: torch.from_numpy(array) for name, array in feeds(tokenize(list(PROBE_TEXTS[:2]))).items()}
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES} | {OUTPUT_NAME: {0: "batch"}}
    with tempfile.TemporaryDirectory(prefix="sage-onnx-") as scratch, torch.no_grad(), warnings.catch_warnings():
        target = Path(scratch) / "embedder.onnx"  # torch.onnx.export takes a path; the cache write comes later
        # Tracer notes on shape-dependent branches and advanced indexing: what they warn about is
        # exactly what the parity check measures. The TorchScript exporter is deprecated, but the
        # torch.export one (dynamo=True) needs onnxscript, one more dependency, for the same graph.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
        torch.onnx.export(
            encoder, (), target, kwargs=example, input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
            dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
        return target.read_bytes()


def _with_reference(data: bytes, reference: np.ndarray) -> bytes:
    """The graph with the torch probe vectors in its metadata, for checks on later loads."""
    import onnx

    proto = onnx.load_from_string(data)
    encoded = base64.b64encode(np.ascontiguousarray(reference, dtype="<f4").tobytes()).decode("ascii")
    onnx.helper.set_model_props(proto, {REFERENCE_KEY: encoded})
    return bytes(proto.SerializeToString())


def _stored_reference(session: ort.InferenceSession) -> np.ndarray | None:
    """The probe vectors an export stored, or None for a file without them (not ours, or older)."""
    encoded = session.get_modelmeta().custom_metadata_map.get(REFERENCE_KEY)
    if encoded is None:
        return None
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").reshape(len(PROBE_TEXTS), -1)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # unique per writer
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:  # umask applies, unlike mkstemp's 0600
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
