"""The model zoo: every model the system can use, looked up by name, loaded lazily and once.

Agents ask the zoo for ``chat_model()`` / ``embedder()`` instead of loading weights
themselves, so one process holds one copy of each model and swapping a model is a settings
or zoo.json change. Listing never loads weights (``sagehealth models list`` stays instant).
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import json
import logging
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from core.settings import Settings
from models.lm.loader import ModelLoadError, package_folder
from models.lm.types import ChatModel
from models.specs import (
    BUILTIN_SPECS,
    ModelSpec,
    UnknownModelError,
    ZooConfigError,
    lookup_spec,
    register_spec,
)

log = logging.getLogger(__name__)

__all__ = ["ModelLoadError", "ModelSpec", "ModelSpecStatus", "ModelZoo", "UnknownModelError", "ZooConfigError", "split_model_ref"]


class ModelSpecStatus(BaseModel):
    """A spec with what is known about it without loading it."""

    spec: ModelSpec
    source: Literal["builtin", "user"]
    available: bool
    cached: bool
    detail: str = ""


def split_model_ref(ref: str) -> tuple[str, str | None]:
    """``"smollm2-135m:impressions-v1"`` → ``("smollm2-135m", "impressions-v1")``; no colon → no adapter."""
    name, _, adapter = ref.partition(":")
    return name, adapter or None


class ModelZoo:
    """Built-in specs plus ``SAGE_HOME/models/zoo.json``, with loaded models cached on the instance.

    Args:
        settings: Paths (``models_dir``), device, default model names and the OpenAI endpoint.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._specs: dict[str, ModelSpec] = dict(BUILTIN_SPECS)
        self._user: set[str] = set()
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        for spec in self._read_user_specs(settings.models_dir / "zoo.json"):
            register_spec(spec, self._specs)
            self._user.add(spec.name)

    @staticmethod
    def _read_user_specs(path: Path) -> list[ModelSpec]:
        if not path.is_file():
            return []
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            items = raw.get("models", []) if isinstance(raw, dict) else raw
            return [ModelSpec.model_validate(item) for item in items]
        except (json.JSONDecodeError, ValidationError, AttributeError, TypeError) as exc:
            raise ZooConfigError(f"{path} is not a valid zoo file: {exc}", hint='it must hold {"models": [{"name": ..., "roles": [...], "backend": ..., "location": ...}]}') from exc

    def names(self) -> list[str]:
        """All model names, sorted."""
        return sorted(self._specs)

    def spec(self, name: str) -> ModelSpec:
        """The spec called ``name`` (``UnknownModelError`` lists the known ones)."""
        return lookup_spec(name, self._specs)

    def cache_folder(self, spec: ModelSpec) -> Path:
        """Where a local model's ``save_pretrained`` folder is (or will be)."""
        return self.settings.models_dir / spec.name if spec.backend == "gguf-transformers" else Path(spec.location).expanduser()

    def status(self, name: str) -> ModelSpecStatus:
        """Availability and cache state of one model, without loading it."""
        spec = self.spec(name)
        source: Literal["builtin", "user"] = "user" if name in self._user else "builtin"
        missing = spec.requires_package and importlib.util.find_spec(spec.requires_package) is None
        if spec.backend == "openai":
            url, model = self._endpoint(spec)
            ok = bool(url and model)
            return ModelSpecStatus(spec=spec, source=source, available=ok, cached=False, detail=f"{url} model={model}" if ok else "set SAGE_OPENAI_BASE_URL and SAGE_OPENAI_MODEL")
        if spec.backend == "python":
            module = spec.location.partition(":")[0]
            ok = importlib.util.find_spec(module) is not None and not missing
            return ModelSpecStatus(spec=spec, source=source, available=ok, cached=ok, detail=spec.location if ok else f"install {spec.requires_package or module}")
        folder = self.cache_folder(spec)
        # An image encoder may also be a single exported file (.pt2 / TorchScript).
        cached = (folder / "config.json").is_file() or ("image" in spec.roles and folder.is_file())
        ok = cached or (spec.backend == "gguf-transformers" and not missing)
        detail = str(folder) if ok else (f"install {spec.requires_package}" if missing else f"no model at {folder}")
        return ModelSpecStatus(spec=spec, source=source, available=ok, cached=cached, detail=detail)

    def list(self) -> list[ModelSpecStatus]:
        """Every spec with its availability (nothing is loaded)."""
        return [self.status(name) for name in self.names()]

    def chat_model(self, name: str | None = None) -> ChatModel:
        """The chat/report model called ``name`` (default ``settings.chat_model``), loaded once."""
        spec = self.spec(name or self.settings.chat_model)
        if not {"chat", "report"} & set(spec.roles):
            raise ZooConfigError(f"model {spec.name!r} has roles {list(spec.roles)}, not chat or report", hint="pick a chat model: `sagehealth models list`")
        return self._cached(spec.name, lambda: self._load_chat(spec))

    def embedder(self, name: str | None = None) -> Any:
        """The text embedder (default ``settings.embed_model``), e.g. ``models.embedder.TextEmbedder``, loaded once."""
        spec = self.spec(name or self.settings.embed_model)
        if spec.backend == "transformers" and "embed" in spec.roles:
            from models.embedder import TextEmbedder, resolve_device

            folder = Path(spec.location).expanduser()
            return self._cached(spec.name, lambda: TextEmbedder(folder, device=resolve_device(self.settings.device), engine=self.settings.embed_engine, onnx_dir=self.settings.onnx_dir))
        return self._python_model(spec.name, "embed")

    def image_encoder(self, name: str | None = None) -> Any:
        """The image encoder (default ``settings.image_model``), loaded once.

        A ``python`` spec is built from its ``module:attribute`` (the built-in ``cxr-tiny``
        placeholder); a ``transformers`` spec loads a real encoder from its ``location`` with
        :func:`models.image.load_encoder` (a ``.pt2`` export, a TorchScript file or a Hugging
        Face folder). Callers normally use ``tools.resources.Resources.image_encoder``.
        """
        spec = self.spec(name or self.settings.image_model)
        if "image" not in spec.roles:
            raise ZooConfigError(f"model {spec.name!r} has roles {list(spec.roles)}, not image", hint="set SAGE_IMAGE_MODEL to an image model: `sagehealth models list`")
        if spec.backend == "transformers":
            from models.image import load_encoder

            return self._cached(spec.name, lambda: load_encoder(self.cache_folder(spec)))
        return self._python_model(spec.name, "image")

    def loaded(self) -> builtins.list[str]:
        """Names of the models this zoo has loaded so far."""
        return sorted(self._loaded)

    def _cached(self, name: str, load: Any) -> Any:
        # One lock for all loads: two requests for a cold model must not load it twice.
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load()
            return self._loaded[name]

    def _python_model(self, name: str, role: str) -> Any:
        spec = self.spec(name)
        if role not in spec.roles or spec.backend != "python":
            raise ZooConfigError(f"model {name!r} is not a python-loaded {role} model (roles {list(spec.roles)}, backend {spec.backend})", hint="check SAGE_EMBED_MODEL / SAGE_IMAGE_MODEL")

        def load() -> Any:
            module_name, _, attr = spec.location.partition(":")
            try:
                factory = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise ModelLoadError(f"model {name!r}: cannot import {spec.location}: {exc}", hint="check the zoo location or install the missing package") from exc
            from_settings = getattr(factory, "from_settings", None)
            return from_settings(self.settings) if callable(from_settings) else factory()

        return self._cached(name, load)

    def _endpoint(self, spec: ModelSpec) -> tuple[str | None, str | None]:
        return spec.location or self.settings.openai_base_url, spec.remote_model or self.settings.openai_model

    def weights_folder(self, name: str) -> Path:
        """The local ``save_pretrained`` folder of a chat model (a GGUF is dequantized there on first use).

        The one place a model name becomes weights on disk: loading for inference and training
        a LoRA adapter on it both go through here.
        """
        spec = self.spec(name)
        folder = self.cache_folder(spec)
        if spec.backend == "gguf-transformers" and not (folder / "config.json").is_file():
            if folder.exists():
                raise ModelLoadError(f"model folder {folder} is incomplete (config.json missing)", hint=f"delete {folder} and run again to rebuild it from the GGUF")
            from models.lm.loader import materialize_gguf

            package, _, gguf = spec.location.removeprefix("package:").partition("/")
            materialize_gguf(package_folder(package) / gguf, folder)
        elif spec.backend not in ("gguf-transformers", "transformers"):
            raise ZooConfigError(f"model {name!r} has backend {spec.backend!r}: no local weights", hint="pick a local model: `sagehealth models list`")
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"no weights for model {name!r} at {folder}", hint="place a Hugging Face model folder there")
        return folder

    def _load_chat(self, spec: ModelSpec) -> ChatModel:
        if spec.backend == "openai":
            from models.lm.openai_backend import OpenAIChatModel

            url, model = self._endpoint(spec)
            if not (url and model):
                raise ZooConfigError(f"model {spec.name!r} needs an endpoint URL and a model id", hint="set SAGE_OPENAI_BASE_URL and SAGE_OPENAI_MODEL (or location/remote_model in zoo.json)")
            key = self.settings.openai_api_key.get_secret_value() if self.settings.openai_api_key else None
            return OpenAIChatModel(url, model, key, name=spec.name, context_length=spec.context_length or 8192)
        from models.lm.local import LocalChatModel

        folder = self.weights_folder(spec.name)
        try:
            return LocalChatModel.from_folder(spec.name, folder, self.settings.device, spec.context_length, self.settings)
        except ModelLoadError as exc:
            raise ModelLoadError(f"model {spec.name!r}: {exc.message}", hint=exc.hint) from exc
