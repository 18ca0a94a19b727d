"""Apply installed adapters to a loaded base model and switch between them at inference.

One base model in memory serves every adapter: the first activation wraps it in a
``PeftModel``, later ones add adapters to the same wrapper, and switching is a flag flip
(``set_adapter``), not a reload. ``activate(None)`` disables the LoRA layers, which then return
exactly the base layer's output, so "no adapter" generates exactly what the base model does.

    switcher = AdapterSwitcher(base, AdapterRegistry(settings), base_name="smollm2-135m")
    with switcher.using("indiana-v1") as model:
        ids = model.generate(**inputs)
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.settings import Settings
from models.adapt.errors import AdapterBaseMismatchError, AdapterExistsError
from models.adapt.manifest import MANIFEST_FILE, base_model_fingerprint
from models.adapt.registry import AdapterRegistry

log = logging.getLogger(__name__)


class AdapterSwitcher:
    """Loads adapters onto one base model on demand and switches the active one.

    Args:
        base_model: The loaded base ``PreTrainedModel``. It is modified in place (LoRA layers are
            injected on first use): generate through :meth:`activate`'s return value.
        registry: Where adapters are looked up.
        base_name: Zoo name of the base (checked against each manifest's ``base_model``);
            default: the name of the folder the base was loaded from.
        base_hash: Fingerprint of the base weights; default: computed from that folder if it exists.
    """

    def __init__(self, base_model: Any, registry: AdapterRegistry, base_name: str | None = None, base_hash: str | None = None) -> None:
        self.base = base_model
        self.registry = registry
        source = Path(str(getattr(base_model.config, "_name_or_path", "") or ""))
        self.base_name = base_name or source.name
        if base_hash is None and (source / "config.json").is_file():
            base_hash = base_model_fingerprint(source)
        self.base_hash = base_hash
        self.active: str | None = None
        self.last_switch_ms: float | None = None
        self.lock = threading.RLock()
        self._peft: Any = None

    @property
    def loaded(self) -> list[str]:
        """Names of the adapters loaded into memory, in load order."""
        return [] if self._peft is None else list(self._peft.peft_config)

    @property
    def model(self) -> Any:
        """The module to call now: the PEFT wrapper once an adapter was loaded, else the base."""
        return self.base if self._peft is None else self._peft

    def activate(self, name: str | None) -> Any:
        """Make ``name`` the active adapter (``None``: the plain base) and return the model to call.

        Raises:
            UnknownAdapterError: ``name`` is not installed.
            AdapterBaseMismatchError: the adapter was trained on another base model.
        """
        with self.lock:
            started = time.perf_counter()
            if name is None:
                if self._peft is not None:
                    self._peft.base_model.disable_adapter_layers()
            else:
                if name not in self.loaded:
                    self._load(name)
                self._peft.base_model.enable_adapter_layers()
                self._peft.set_adapter(name, inference_mode=True)
            self.active = name
            self.last_switch_ms = (time.perf_counter() - started) * 1000
            log.debug("active adapter %s (%.1f ms)", name, self.last_switch_ms)
            return self.model

    @contextlib.contextmanager
    def using(self, name: str | None) -> Iterator[Any]:
        """Hold the switch lock while generating, so a concurrent caller cannot swap adapters mid-call."""
        with self.lock:
            yield self.activate(name)

    def _load(self, name: str) -> None:
        from peft import PeftModel

        record = self.registry.get(name, base_model=self.base_name)
        if self.base_hash and record.manifest.base_model_hash != self.base_hash:
            raise AdapterBaseMismatchError(
                f"adapter {name!r} was trained on {record.manifest.base_model!r} weights {record.manifest.base_model_hash[:19]}..., "
                f"but the loaded base has {self.base_hash[:19]}...",
                hint="the base model folder changed since training; retrain the adapter on the current base",
            )
        if self._peft is None:
            self._peft = PeftModel.from_pretrained(self.base, str(record.path), adapter_name=name)
        else:
            self._peft.load_adapter(str(record.path), adapter_name=name)
        self._peft.eval()
        log.info("loaded adapter %s from %s", name, record.path)


def merge_adapter(settings: Settings, name: str, out_dir: Path) -> Path:
    """Export base + adapter ``name`` as one plain model folder (``merge_and_unload``), atomically.

    The result loads with ``AutoModelForCausalLM.from_pretrained(out_dir)`` anywhere (vLLM,
    llama.cpp conversion) without peft; the adapter's manifest is copied beside it.

    Raises:
        AdapterExistsError: ``out_dir`` exists and is not empty.
    """
    from peft import PeftModel

    from models.adapt.train import base_model_folder, resolve_device
    from models.lm.loader import load_causal_lm

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise AdapterExistsError(f"output folder {out_dir} is not empty", hint="choose a new --out folder or remove the old one")
    record = AdapterRegistry(settings).get(name)
    folder = base_model_folder(settings, record.manifest.base_model)
    if base_model_fingerprint(folder) != record.manifest.base_model_hash:
        raise AdapterBaseMismatchError(f"base model at {folder} differs from the one adapter {name!r} was trained on", hint="retrain the adapter on the current base")
    base, tokenizer = load_causal_lm(folder, resolve_device(settings))
    merged = PeftModel.from_pretrained(base, str(record.path)).merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.copyfile(record.path / MANIFEST_FILE, tmp / f"adapter_{MANIFEST_FILE}")
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
