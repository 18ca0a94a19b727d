"""Chest X-ray images in, 512-d unit vectors out: loading (PNG/JPEG/DICOM) and pluggable encoders.

No pretrained chest X-ray image model is available offline (README, "Data and licences"), so the default
:class:`TinyCxrEncoder` is a deterministic PLACEHOLDER that exercises the image path end to end
(ingest -> ``image`` named vector -> image retrieval). A user with a real encoder (BioViL-T,
a torchxrayvision checkpoint, any TorchScript or Hugging Face vision model) loads it by path
with :func:`load_encoder`; everything downstream only sees the :class:`ImageEncoder` protocol.
:func:`checked_encoder` checks the encoder the zoo loads for ``settings.image_model``
(ingestion and the report task both call it), and :func:`load_image` the one DICOM decoder.

Try it::

    .venv/bin/python -c "from models.image import load_image, TinyCxrEncoder; \
        print(TinyCxrEncoder().embed([load_image('chest.dcm')]).shape)"
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import SageError
from models.lm.loader import ModelLoadError
from models.specs import ZooConfigError

IMAGE_DIM = 512  # lakehouse.semantic.base.VECTORS["image"]
_DICOM_MAGIC_OFFSET = 128


class InvalidImageError(SageError):
    """A file or byte string is not a readable PNG, JPEG or DICOM image."""


@runtime_checkable
class ImageEncoder(Protocol):
    """Maps images to L2-normalised ``(n, 512)`` float32 vectors (the ``image`` named vector)."""

    name: str
    dim: int

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One unit vector per image, shape ``(len(images), dim)``."""


def is_dicom(data: bytes) -> bool:
    """True when ``data`` is a DICOM Part 10 file (``DICM`` after the 128-byte preamble)."""
    return data[_DICOM_MAGIC_OFFSET : _DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _dicom_to_image(data: bytes, label: str) -> Image.Image:
    """Decode DICOM pixels, apply modality LUT and window, map to 8-bit, make white = dense."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        pixels = ds.pixel_array
    except (InvalidDicomError, AttributeError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise InvalidImageError(f"{label}: DICOM file has no decodable pixel data ({exc})", hint="export the study as PNG or check the transfer syntax is supported (pillow decodes JPEG/JPEG2000)") from exc
    if pixels.ndim == 3 and pixels.shape[-1] not in (3, 4):
        pixels = pixels[0]  # multi-frame: the first frame stands for the study
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
    # Robust min/max after windowing: a few hot pixels (labels, burned-in text) must not squash contrast.
    lo, hi = np.percentile(values, [0.5, 99.5])
    scaled = np.clip((values - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        scaled = 1.0 - scaled  # MONOCHROME1 stores dense (bone) as dark; radiologists read it inverted
    return Image.fromarray((scaled * 255).astype(np.uint8), mode="L")


def load_image(source: str | Path | bytes, *, name: str | None = None) -> Image.Image:
    """Read a PNG, JPEG or DICOM image (path or bytes) as an 8-bit grayscale PIL image.

    Args:
        source: File path or the file's bytes.
        name: Label used in error messages when ``source`` is bytes.

    Raises:
        InvalidImageError: The file is missing or is not a readable image (names the file).
    """
    if isinstance(source, bytes):
        data, label = source, name or "<bytes>"
    else:
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise InvalidImageError(f"{label}: no such image file", hint="check the path")
        data = path.read_bytes()
    if is_dicom(data):
        return _dicom_to_image(data, label)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.convert("L")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidImageError(f"{label}: not a PNG, JPEG or DICOM image", hint="pass a chest X-ray as .png, .jpg or .dcm") from exc


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class TinyCxrEncoder:
    """PLACEHOLDER image encoder: deterministic hand-made features, NOT clinically meaningful.

    No pretrained chest X-ray weights exist offline, so this encoder only lets the image path
    run end to end. Features of a 64x64 grayscale thumbnail: a 16x16 intensity map (global
    shape: lung fields, heart silhouette), 4x4 cells x 8 gradient-orientation bins (edges) and a
    32-bin intensity histogram, standardised and projected to 512-d by a fixed-seed Gaussian
    matrix. Identical images give identical vectors and similar-looking images similar ones;
    nothing here knows what a finding is. Swap in a real encoder with :func:`load_encoder`.
    """

    name = "cxr-tiny"
    dim = IMAGE_DIM
    _SIZE = 64
    _N_FEATURES = 16 * 16 + 4 * 4 * 8 + 32

    def __init__(self, seed: int = 512) -> None:
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((self._N_FEATURES, self.dim)) / np.sqrt(self._N_FEATURES)

    def _features(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.convert("L").resize((self._SIZE, self._SIZE), Image.Resampling.BILINEAR), dtype=np.float64) / 255.0
        coarse = pixels.reshape(16, 4, 16, 4).mean(axis=(1, 3)).ravel()
        gy, gx = np.gradient(pixels)
        magnitude = np.hypot(gx, gy)
        orientation = ((np.arctan2(gy, gx) + np.pi) / (2 * np.pi) * 8).astype(int) % 8
        cells = np.zeros((4, 4, 8))
        for cy in range(4):
            for cx in range(4):
                window = (slice(cy * 16, cy * 16 + 16), slice(cx * 16, cx * 16 + 16))
                cells[cy, cx] = np.bincount(orientation[window].ravel(), weights=magnitude[window].ravel(), minlength=8)
        histogram = np.histogram(pixels, bins=32, range=(0.0, 1.0))[0] / pixels.size
        groups = [coarse - coarse.mean(), cells.ravel() / (cells.sum() + 1e-9), histogram]
        # Each group scaled to unit norm so no single group dominates the projection.
        return np.concatenate([g / (np.linalg.norm(g) + 1e-9) for g in groups])

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Unit vectors ``(n, 512)``; an empty list gives ``(0, 512)``."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        features = np.stack([self._features(img) for img in images])
        return _normalise(features @ self._projection)


class TorchImageEncoder:
    """Adapter from a user's torch/transformers vision model to :class:`ImageEncoder`.

    The model sees ``(n, channels, size, size)`` float tensors scaled to [0, 1] (then
    ``(x - mean) / std``); its output (a tensor, or ``pooler_output`` / mean of
    ``last_hidden_state`` for transformers models) is flattened per image. Outputs wider or
    narrower than 512 go through a fixed-seed random projection so the vector fits the
    ``image`` named vector; cosine geometry is approximately preserved (Johnson-Lindenstrauss).
    """

    dim = IMAGE_DIM

    def __init__(self, module: Any, *, name: str, size: int = 224, channels: int = 1, mean: float = 0.5, std: float = 0.5) -> None:
        self.module = module
        self.name = name
        self.size = size
        self.channels = channels
        self.mean = mean
        self.std = std
        self._projection: np.ndarray | None = None

    def _pixels(self, images: Sequence[Image.Image]) -> Any:
        import torch

        arrays = [np.asarray(img.convert("L").resize((self.size, self.size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0 for img in images]
        batch = torch.from_numpy(np.stack(arrays))[:, None].repeat(1, self.channels, 1, 1)
        return (batch - self.mean) / self.std

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Unit vectors ``(n, 512)`` from the wrapped model's pooled output."""
        import torch

        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.no_grad():
            output = self.module(self._pixels(images))
        if not isinstance(output, torch.Tensor):
            pooled = getattr(output, "pooler_output", None)
            output = pooled if pooled is not None else output.last_hidden_state.mean(dim=1)
        features = output.reshape(len(images), -1).float().cpu().numpy()
        if features.shape[1] != self.dim:
            if self._projection is None or self._projection.shape[0] != features.shape[1]:
                rng = np.random.default_rng(features.shape[1])
                self._projection = rng.standard_normal((features.shape[1], self.dim)) / np.sqrt(self.dim)
            features = features @ self._projection
        return _normalise(features)


def load_encoder(path: str | Path, *, size: int = 224, channels: int = 1) -> ImageEncoder:
    """Load a real image encoder from a local path (never from a hub).

    Args:
        path: An exported program (``torch.export.save``, ``.pt2``), a TorchScript file
            (``torch.jit.save``; e.g. an exported torchxrayvision or BioViL-T image tower) or a
            Hugging Face folder with ``config.json`` (``AutoModel``).
        size: Input side length the model expects.
        channels: Input channels the model expects (1 for most CXR models, 3 for ImageNet ones).

    Raises:
        ModelLoadError: Nothing loadable at ``path``.
    """
    import torch

    location = Path(path)
    if location.is_dir() and (location / "config.json").is_file():
        from transformers import AutoModel

        try:
            module = AutoModel.from_pretrained(str(location), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{location}: not a loadable transformers vision model ({exc})", hint="point at a folder written by save_pretrained") from exc
        config = module.config
        return TorchImageEncoder(module.eval(), name=location.name, size=getattr(config, "image_size", size), channels=getattr(config, "num_channels", channels))
    if location.is_file():
        try:
            if location.suffix == ".pt2":
                module = torch.export.load(str(location)).module()
            else:
                module = torch.jit.load(str(location), map_location="cpu").eval()
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{location}: not an exported image encoder ({exc})", hint="save the model with torch.export.save (.pt2) or torch.jit.save") from exc
        return TorchImageEncoder(module, name=location.stem, size=size, channels=channels)
    raise ModelLoadError(f"{location}: no image encoder at this path", hint="give a TorchScript file or a Hugging Face model folder")


def checked_encoder(encoder: Any, name: str) -> ImageEncoder:
    """``encoder`` (from ``ModelZoo.image_encoder``) if it gives 512-d vectors, else a ZooConfigError.

    Ingestion writes the ``image`` named vector and the report task embeds its query image with
    the encoder the zoo loads for ``settings.image_model`` (``tools.resources.Resources``
    holds it), so stored and query vectors always come from the same encoder. The default
    ``cxr-tiny`` is the :class:`TinyCxrEncoder` placeholder; a zoo.json entry with backend
    ``transformers`` and a ``location`` loads a real encoder with :func:`load_encoder`.
    """
    if getattr(encoder, "dim", None) != IMAGE_DIM or not isinstance(encoder, ImageEncoder):
        raise ZooConfigError(f"image model {name!r} does not give {IMAGE_DIM}-d vectors", hint="wrap it so embed() returns (n, 512) unit vectors (see models.image.TorchImageEncoder)")
    return encoder
