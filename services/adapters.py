"""The adaptation hub as services: train a LoRA adapter on the lakehouse, list, show, delete, merge.

Training reads the whole train split (de-identified before it reaches the trainer), so it is an
action the pack must grant (``adapt_train``); reading manifests needs ``models_read``, and
changing installed adapters ``adapt_manage``. Each call is one audit event.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from models.adapt.config import LoraTrainConfig
from models.adapt.registry import AdapterManifest, AdapterRegistry
from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources

TRAIN_HINT = "use a role the policy pack allows to train adapters (clinician, radiologist, data_engineer)"


class TrainRequest(ServiceRequest):
    """Train and install one adapter."""

    name: str = Field(min_length=1, max_length=64)
    config: LoraTrainConfig
    limit: int | None = Field(None, ge=1)
    eval_limit: int = Field(60, ge=1)
    rag_fraction: float = Field(0.5, ge=0.0, le=1.0)
    abnormal_fraction: float = Field(0.5, ge=0.0, le=0.95)
    resume: bool = True
    overwrite: bool = False
    progress: bool = False


def train(resources: Resources, caller: Caller, request: TrainRequest) -> AdapterManifest:
    """Fine-tune a LoRA adapter on de-identified train-split reports and install it."""
    from lakehouse.datasets import impression_examples, label_agreement
    from models.adapt.train import train_adapter

    settings, config = resources.settings, request.config
    with governed(resources, caller, "train_adapter", "adapt_train", resource=request.name, hint=TRAIN_HINT):
        train_set, info = impression_examples(settings, "train", limit=request.limit, abnormal_fraction=request.abnormal_fraction or None, seed=config.seed, rag_fraction=request.rag_fraction,
                                             store=resources.store, embedder=resources.embedder, redactor=resources.redactor)
        held_out, eval_info = impression_examples(settings, "test", limit=request.eval_limit, redactor=resources.redactor)
        info |= {"n_eval_source": eval_info["n_examples"], "trained_by": caller.user, "trained_by_role": caller.role}
        return train_adapter(settings, request.name, train_set, held_out, config, progress=request.progress, resume=request.resume, data_info=info, scorer=label_agreement, overwrite=request.overwrite)


def list_adapters(resources: Resources, caller: Caller) -> list[AdapterManifest]:
    """Installed adapters with their headline metrics."""
    with governed(resources, caller, "list_adapters", "models_read", resource="adapters", audit_action="adapt:list"):
        return AdapterRegistry(resources.settings).list()


def show_adapter(resources: Resources, caller: Caller, name: str) -> AdapterManifest:
    """One adapter's manifest (data provenance, hyper-parameters, metrics, privacy)."""
    with governed(resources, caller, "show_adapter", "models_read", resource=name[:64], audit_action="adapt:show"):
        return AdapterRegistry(resources.settings).get(name).manifest


def delete_adapter(resources: Resources, caller: Caller, name: str) -> None:
    """Remove an installed adapter."""
    with governed(resources, caller, "delete_adapter", "adapt_manage", resource=name[:64], audit_action="adapt:delete"):
        AdapterRegistry(resources.settings).delete(name)


def merge_adapter(resources: Resources, caller: Caller, name: str, out: Path) -> Path:
    """Export base + adapter as one plain Hugging Face model folder (for vLLM, llama.cpp, ...)."""
    from models.adapt.runtime import merge_adapter as merge

    with governed(resources, caller, "merge_adapter", "adapt_manage", resource=name[:64], audit_action="adapt:merge"):
        return merge(resources.settings, name, out)
