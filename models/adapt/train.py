"""LoRA fine-tuning of the base chat model on findings -> impression pairs.

A plain PyTorch loop (AdamW, constant learning rate) over a PEFT ``LoraConfig`` model, so every
step is visible and resumable: checkpoints hold adapter weights, optimizer state, step and RNG,
and a resumed run reproduces the uninterrupted one. The finished adapter is written into a
hidden staging folder and installed into the registry in one rename.

    from models.adapt.train import train_adapter
    manifest = train_adapter(settings, "indiana-v1", train, held_out, LoraTrainConfig(max_steps=200))
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.settings import Settings
from models.adapt.checkpoint import RunStats, clear_checkpoints, load_checkpoint, save_checkpoint
from models.adapt.config import LoraTrainConfig
from models.adapt.data import EncodedExample, TrainExample, collate, encode_examples, examples_sha256
from models.adapt.errors import AdapterExistsError, TrainingDataError
from models.adapt.evaluate import Scorer, eval_loss, generate_impressions
from models.adapt.manifest import AdapterManifest, DataInfo, PrivacyInfo, base_model_fingerprint
from models.adapt.registry import AdapterRegistry, validate_name
from models.prompts import IMPRESSION_TEMPLATE_VERSION

__all__ = ["TrainExample", "base_model_folder", "resolve_device", "train_adapter"]

log = logging.getLogger(__name__)

StepCallback = Callable[[int, float], None]


def resolve_device(settings: Settings) -> str:
    """``settings.device`` with ``auto`` resolved to cuda when a GPU is present."""
    if settings.device != "auto":
        return settings.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def base_model_folder(settings: Settings, base_model: str) -> Path:
    """Local ``save_pretrained`` folder of a base model, resolved by the model zoo (the one resolver)."""
    from models.lm.loader import ModelLoadError
    from models.zoo import ModelZoo

    zoo = ModelZoo(settings)
    if base_model in zoo.names():
        return zoo.weights_folder(base_model)
    folder = settings.models_dir / base_model  # a Hugging Face folder placed by hand, not (yet) in zoo.json
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"no base model {base_model!r} at {folder}", hint="add it to zoo.json, place a Hugging Face model folder there, or use base_model='smollm2-135m'")
    return folder


def _epoch_batches(encoded: Sequence[EncodedExample], config: LoraTrainConfig, epoch: int) -> list[list[EncodedExample]]:
    """The micro-batches of one epoch, in an order fixed by (seed, epoch) so a resume sees the same."""
    import torch

    order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch)).tolist()
    return [[encoded[i] for i in order[s : s + config.batch_size]] for s in range(0, len(order), config.batch_size)]


def train_adapter(
    settings: Settings,
    name: str,
    train: Sequence[TrainExample],
    eval: Sequence[TrainExample],
    config: LoraTrainConfig,
    progress: bool = True,
    resume: bool = True,
    data_info: dict[str, Any] | None = None,
    scorer: Scorer | None = None,
    step_callback: StepCallback | None = None,
    overwrite: bool = False,
) -> AdapterManifest:
    """Train a LoRA adapter and install it in the registry as ``name``.

    Args:
        settings: Paths (models, adapters) and device.
        name: Registry name of the new adapter.
        train: Training examples (de-identified, train split only).
        eval: Held-out examples for the final loss (and scored generations).
        config: Hyper-parameters.
        progress: Show a tqdm bar with loss and tokens/s.
        resume: Continue from the latest checkpoint of an interrupted run of the same name and
            configuration; False discards it.
        data_info: Provenance for the manifest: ``source``, ``version``, ``split``, ``deidentified``, extras.
        scorer: ``scorer(predictions, references) -> dict`` applied to generated impressions of up
            to ``config.gen_eval_limit`` held-out cases (e.g. label agreement); its numbers are
            stored as ``eval_<key>`` metrics.
        step_callback: Called as ``step_callback(step, loss)`` after each optimizer step (and any
            checkpoint); raising from it interrupts the run like Ctrl-C would.
        overwrite: Replace an installed adapter of the same name.

    Returns:
        The manifest of the installed adapter.
    """
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    from models.lm.loader import load_causal_lm

    registry = AdapterRegistry(settings)
    validate_name(name)
    if not overwrite and (registry.root / name).exists():
        raise AdapterExistsError(f"adapter {name!r} already exists", hint=f"choose another name, pass overwrite, or `sagehealth adapt delete {name}`")
    info = {"source": "unspecified", "version": "unknown", "split": "train", "deidentified": False, **(data_info or {})}
    if info["split"] == "test":
        raise TrainingDataError("refusing to train on the test split", hint="train on split='train'; test reports are for evaluation only")
    train = list(train)[: config.limit] if config.limit else list(train)
    if not train:
        raise TrainingDataError(f"no training examples for adapter {name!r}", hint="ingest reports first (`sagehealth ingest`) or lower --limit filters")

    folder = base_model_folder(settings, config.base_model)
    base_hash = base_model_fingerprint(folder)
    device = resolve_device(settings)
    model, tokenizer = load_causal_lm(folder, device)
    train_enc = encode_examples(tokenizer, train, config.max_seq_len)
    eval_enc = encode_examples(tokenizer, eval, config.max_seq_len)
    data_sha = examples_sha256(train)

    torch.manual_seed(config.seed)  # LoRA A matrices are initialised from the global RNG
    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)

    steps_per_epoch = math.ceil(math.ceil(len(train_enc) / config.batch_size) / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    fingerprint = {"config": config.run_fingerprint(), "data": data_sha, "base": base_hash}
    work_dir = registry.work_dir(name)
    step, stats = 0, RunStats()
    if not resume:
        clear_checkpoints(work_dir)
    else:
        restored = load_checkpoint(work_dir, fingerprint, model, optimizer)
        if restored is not None:
            step, stats = restored

    pad_id = tokenizer.pad_token_id
    model.train()
    bar = tqdm(total=total_steps, initial=step, disable=not progress, unit="step", desc=f"lora {name}")
    try:
        while step < total_steps:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            micro = _epoch_batches(train_enc, config, epoch)[in_epoch * config.grad_accum : (in_epoch + 1) * config.grad_accum]
            started = time.perf_counter()
            step_loss = 0.0
            for batch_examples in micro:
                batch = {k: v.to(device) for k, v in collate(batch_examples, pad_id).items()}
                loss = model(**batch).loss / len(micro)
                loss.backward()
                step_loss += float(loss.detach())
                stats.tokens += int(batch["attention_mask"].sum())
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            stats.seconds += time.perf_counter() - started
            stats.step_losses.append(step_loss)
            if config.eval_every and step % config.eval_every == 0 and eval_enc:
                stats.eval_losses[step] = eval_loss(model, eval_enc, pad_id, config.batch_size) or float("nan")
            if step % config.save_every == 0 and step < total_steps:
                save_checkpoint(work_dir, fingerprint, step, model, optimizer, stats)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{stats.tokens / max(stats.seconds, 1e-9):.0f}")
            if step_callback is not None:
                step_callback(step, step_loss)
    except BaseException:
        log.warning("training of %s interrupted after step %d; run again with resume to continue from the last checkpoint in %s", name, step, work_dir)
        raise
    finally:
        bar.close()

    model.eval()
    metrics: dict[str, float | int | None] = {
        "steps": step,
        "epochs_completed": round(step / steps_per_epoch, 3),
        "train_loss": sum(stats.step_losses[-10:]) / len(stats.step_losses[-10:]) if stats.step_losses else None,
        "train_loss_first": stats.step_losses[0] if stats.step_losses else None,
        "train_tokens": stats.tokens,
        "train_seconds": round(stats.seconds, 2),
        "tokens_per_s": round(stats.tokens / stats.seconds, 1) if stats.seconds else None,
        "eval_loss": eval_loss(model, eval_enc, pad_id, config.batch_size) if eval_enc else None,
    }
    if scorer is not None and eval and config.gen_eval_limit:
        cases = list(eval)[: config.gen_eval_limit]
        predictions = generate_impressions(model, tokenizer, cases, config.max_new_tokens, config.batch_size)
        for key, value in scorer(predictions, [c.target for c in cases]).items():
            if isinstance(value, int | float) or value is None:
                metrics[f"eval_{key}"] = value
        metrics["eval_generated"] = len(cases)

    manifest = AdapterManifest(
        name=name,
        base_model=config.base_model,
        base_model_hash=base_hash,
        prompt_template=IMPRESSION_TEMPLATE_VERSION,
        data=DataInfo(**{**info, "sha256": data_sha, "n_train": len(train_enc), "n_eval": len(eval_enc)}),
        hyperparameters=config,
        metrics=metrics,
        privacy=PrivacyInfo(deidentified=bool(info["deidentified"]), dp=config.dp.mechanism),
        peft_version=peft.__version__,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
    )
    staging = registry.staging_dir(name)
    try:
        model.save_pretrained(str(staging))
        registry.install(staging, manifest, overwrite=overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    clear_checkpoints(work_dir)
    return manifest
