"""Resumable training state: adapter weights, optimizer, step, RNG and running statistics.

One file per run (``adapters/.work/<name>/checkpoint.pt``), replaced atomically, so a process
killed while saving leaves the previous checkpoint intact. A checkpoint carries the run's
fingerprint (trajectory-shaping hyper-parameters, data hash, base model hash); a run with a
different fingerprint starts over instead of silently mixing two runs.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class RunStats:
    """Running totals that must survive a resume so the final numbers cover the whole run."""

    step_losses: list[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    eval_losses: dict[int, float] = field(default_factory=dict)


def save_checkpoint(work_dir: Path, fingerprint: dict[str, Any], step: int, model: Any, optimizer: Any, stats: RunStats) -> Path:
    """Write the state after optimizer step ``step`` (atomic replace of the previous checkpoint)."""
    import torch
    from peft import get_peft_model_state_dict

    work_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "fingerprint": fingerprint,
        "step": step,
        "adapter": {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(model).items()},
        "optimizer": optimizer.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "stats": asdict(stats),
    }
    path = work_dir / CHECKPOINT_FILE
    tmp = work_dir / f".{CHECKPOINT_FILE}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(work_dir: Path, fingerprint: dict[str, Any], model: Any, optimizer: Any) -> tuple[int, RunStats] | None:
    """Restore the latest checkpoint into ``model``/``optimizer``/RNG; None if absent or from another run."""
    import torch
    from peft import set_peft_model_state_dict

    path = work_dir / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        log.warning("ignoring unreadable checkpoint %s (%s); starting over", path, exc)
        return None
    if state.get("fingerprint") != fingerprint:
        log.warning("checkpoint %s belongs to a different run (hyper-parameters, data or base changed); starting over", path)
        return None
    set_peft_model_state_dict(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    raw = state["stats"]
    stats = RunStats(list(raw["step_losses"]), int(raw["tokens"]), float(raw["seconds"]), {int(k): v for k, v in raw["eval_losses"].items()})
    log.info("resuming from %s at step %d", path, state["step"])
    return int(state["step"]), stats


def clear_checkpoints(work_dir: Path) -> None:
    """Forget an in-progress run (after it completed, or when the caller asked not to resume)."""
    shutil.rmtree(work_dir, ignore_errors=True)
