"""Hyper-parameters of one LoRA training run, validated before any model is loaded.

The defaults are the run measured in docs/results.md (r=16 on q/k/v/o, batch 8, fp32:
about 138 tokens/s on 2 CPU cores). Every field is recorded in the adapter manifest, so an
adapter can be reproduced from its manifest alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Fields that do not change the trajectory of a run (how long it runs or how often it reports),
# so a checkpoint written under different values can still be resumed.
PROGRESS_FIELDS: frozenset[str] = frozenset({"epochs", "max_steps", "eval_every", "save_every", "gen_eval_limit", "max_new_tokens"})


class DPConfig(BaseModel):
    """Differential-privacy settings: a placeholder until DP-SGD (Opacus) lands in a later wave.

    Only ``mechanism="none"`` is accepted today; the field exists so manifests already carry
    the privacy budget slot (``epsilon``) that a DP run will fill.
    """

    model_config = ConfigDict(extra="forbid")

    mechanism: Literal["none"] = Field("none", description="DP mechanism; 'none' until Opacus DP-SGD is implemented.")
    target_epsilon: float | None = Field(None, description="Privacy budget to reach with DP-SGD (unused while mechanism='none').")
    max_grad_norm: float | None = Field(None, description="Per-sample gradient clipping bound for DP-SGD (unused while mechanism='none').")


class LoraTrainConfig(BaseModel):
    """One LoRA fine-tuning run of a base model on findings -> impression pairs."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field("smollm2-135m", description="Zoo name of the base model; its folder is SAGE_HOME/models/<name>.")
    r: int = Field(16, ge=1, le=256, description="LoRA rank: size of the low-rank update per target matrix.")
    alpha: int = Field(32, gt=0, description="LoRA scaling numerator; the update is scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input during training.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Names of the linear layers that receive a LoRA update (the attention projections by default).",
    )
    lr: float = Field(2e-4, gt=0, le=1, description="AdamW learning rate (constant, so a resumed run follows the same schedule).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay on the LoRA weights.")
    epochs: int = Field(1, ge=1, le=100, description="Passes over the training examples (ignored once max_steps is reached).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (a short run); None trains all epochs.")
    batch_size: int = Field(8, ge=1, le=512, description="Examples per forward pass; batches are padded to their longest example.")
    grad_accum: int = Field(1, ge=1, le=256, description="Forward passes accumulated per optimizer step (effective batch = batch_size * grad_accum).")
    max_seq_len: int = Field(384, ge=16, le=8192, description="Token cap per example (prompt + impression); longer ones are cut at the end.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Clip the global gradient norm to this value; None disables clipping.")
    seed: int = Field(7, description="Seeds LoRA initialisation, data order and dropout; same seed + data gives the same adapter.")
    eval_every: int | None = Field(None, ge=1, description="Compute held-out loss every N optimizer steps (None: only at the end).")
    save_every: int = Field(50, ge=1, description="Write a resumable checkpoint every N optimizer steps.")
    limit: int | None = Field(None, ge=1, description="Use at most this many training examples (quick runs).")
    gen_eval_limit: int = Field(16, ge=0, description="Held-out cases to generate impressions for when a scorer is given (0: none).")
    max_new_tokens: int = Field(64, ge=1, le=1024, description="Generation cap for the held-out impressions scored at the end.")
    dp: DPConfig = Field(default_factory=lambda: DPConfig(), description="Differential privacy (placeholder: 'none' until Opacus DP-SGD lands).")

    @field_validator("target_modules")
    @classmethod
    def _targets_not_empty(cls, value: list[str]) -> list[str]:
        if not value or any(not name.strip() for name in value):
            raise ValueError("target_modules must name at least one layer, e.g. ['q_proj', 'v_proj']")
        return value

    @model_validator(mode="after")
    def _fits(self) -> LoraTrainConfig:
        if self.max_steps is not None and self.eval_every is not None and self.eval_every > self.max_steps:
            raise ValueError(f"eval_every={self.eval_every} is larger than max_steps={self.max_steps}: no evaluation would run")
        return self

    def run_fingerprint(self) -> dict[str, object]:
        """The fields that shape the training trajectory (a checkpoint resumes only when they match)."""
        return self.model_dump(mode="json", exclude=set(PROGRESS_FIELDS))
