"""The manifest stored beside every adapter: what it was trained on, how, and how well it did.

A manifest answers the questions a reviewer asks before an adapter goes near a patient: which
base model (name and a fingerprint of its weights), which prompt template, which data (source,
version, a hash of the exact training examples, whether they were de-identified), which
hyper-parameters, what privacy guarantee, and the held-out metrics.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.adapt.config import LoraTrainConfig

MANIFEST_FILE = "manifest.json"
MANIFEST_SCHEMA = 1
# Hashing 0.5 GB of weights on every load would cost seconds; the config, file sizes and the
# first/last MiB of each weight file (safetensors headers list every tensor) tell bases apart.
_FINGERPRINT_CHUNK = 1 << 20


class DataInfo(BaseModel):
    """Where the training examples came from; extra keys (e.g. per-table versions) are kept."""

    model_config = ConfigDict(extra="allow")

    source: str = Field(description="Origin of the examples, e.g. 'lakehouse:reports' or 'tests:handwritten'.")
    version: str = Field(description="Raw-tier (Delta) version or content hash of the source the examples were read from.")
    sha256: str = Field(description="sha256 of the canonical JSON of the training examples, in training order.")
    n_train: int = Field(ge=0, description="Training examples used.")
    n_eval: int = Field(ge=0, description="Held-out examples evaluated at the end.")
    split: str = Field("train", description="Split the training examples were drawn from (never 'test').")
    deidentified: bool = Field(description="Whether findings and impressions went through the PHI redactor before training.")


class PrivacyInfo(BaseModel):
    """Privacy guarantees of the training run."""

    deidentified: bool = Field(description="Training text was de-identified before it reached the model.")
    dp: Literal["none", "dp-sgd"] = Field("none", description="Differential-privacy mechanism ('none' until Opacus DP-SGD lands).")
    epsilon: float | None = Field(None, description="Privacy budget spent (None without DP).")
    delta: float | None = Field(None, description="DP delta (None without DP).")


class AdapterManifest(BaseModel):
    """Everything needed to trust, reproduce and apply one LoRA adapter."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(MANIFEST_SCHEMA, description="Manifest format version.")
    name: str = Field(description="Registry name of the adapter (its folder name).")
    base_model: str = Field(description="Zoo name of the base model the adapter was trained on.")
    base_model_hash: str = Field(description="Fingerprint of the base model folder (config.json + weights), see base_model_fingerprint.")
    task: Literal["impression"] = Field("impression", description="What the adapter was trained to write.")
    prompt_template: str = Field(description="models.prompts template version the training prompts used; inference must use the same.")
    data: DataInfo = Field(description="Training data provenance.")
    hyperparameters: LoraTrainConfig = Field(description="The full training configuration.")
    metrics: dict[str, float | int | None] = Field(default_factory=dict, description="train_loss, eval_loss, eval_label_agreement, tokens_per_s, steps, ...")
    privacy: PrivacyInfo = Field(description="De-identification and DP budget.")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC), description="When training finished (UTC).")
    peft_version: str = Field(description="peft version that wrote the adapter weights.")
    torch_version: str = Field(description="torch version used for training.")
    transformers_version: str = Field("", description="transformers version used for training.")

    def write(self, folder: Path) -> Path:
        """Write ``manifest.json`` into ``folder``."""
        path = folder / MANIFEST_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> AdapterManifest:
        """Read ``manifest.json`` from ``folder`` (raises ``OSError``/``ValidationError`` as is)."""
        return cls.model_validate_json((folder / MANIFEST_FILE).read_text(encoding="utf-8"))


def base_model_fingerprint(folder: Path) -> str:
    """A stable fingerprint of a ``save_pretrained`` model folder: config.json plus the weight files.

    Two folders with the same weights (a copy) share a fingerprint; a re-quantized or
    fine-tuned base does not.
    """
    digest = hashlib.sha256()
    config = folder / "config.json"
    # Drop keys that only say where the folder came from, not what the weights are.
    data = json.loads(config.read_text(encoding="utf-8"))
    for key in ("_name_or_path", "_model_name_or_path", "transformers_version"):
        data.pop(key, None)
    digest.update(json.dumps(data, sort_keys=True).encode())
    weights = sorted(p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"})
    for path in weights:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(_FINGERPRINT_CHUNK))
            fh.seek(max(0, size - _FINGERPRINT_CHUNK))
            digest.update(fh.read(_FINGERPRINT_CHUNK))
    return "sha256:" + digest.hexdigest()
