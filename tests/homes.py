"""Writable copies of the session lakehouse, all sharing one dequantized SmolLM2.

Tests that write (runs add checkpoints, traces, audit entries, keys) work on a copy of the
session lakehouse. Two things kept the suite's temporary folders at ~24 GB per run, enough to
fill a CI disk: ``shutil.copytree`` wrote the Qdrant shard's sparse files out in full (~350 MB a
copy, see ``core.files``), and each home dequantized its own SmolLM2 (517 MB and ~20 s each).
Here a copy keeps the holes, and every home links the one model folder this test run builds.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from core.files import copy_tree

SMOLLM2 = "smollm2-135m"
MODELS_ENV = "SAGE_TEST_MODELS"
"""Folder of the run's shared models (``tests/conftest.py`` sets a temporary one unless it is set)."""
RUN_FILES = ("traces", "audit*", "checkpoints.sqlite*", "keys.*", "*.lease*", "models")
"""What a run writes or a process holds: never copied from the session home."""


def shared_smollm2() -> Path:
    """This test run's dequantized SmolLM2: built from the packaged GGUF on first use, then reused."""
    from models.lm.loader import materialize_gguf, smollm2_gguf_path

    root = Path(os.environ[MODELS_ENV])
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:  # one builder when several processes share the folder
        fcntl.flock(lock, fcntl.LOCK_EX)
        return materialize_gguf(smollm2_gguf_path(), root / SMOLLM2)


def link_smollm2(models_dir: Path) -> None:
    """Point ``models_dir/smollm2-135m`` at the shared folder, unless the home already has one."""
    target = models_dir / SMOLLM2
    if target.exists() or target.is_symlink():
        return
    models_dir.mkdir(parents=True, exist_ok=True)
    target.symlink_to(shared_smollm2(), target_is_directory=True)


def copy_home(source: Path, target: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """A writable copy of ``source`` at ``target``: no run files, sparse files kept, the shared model linked."""
    copy_tree(source, target, ignore=shutil.ignore_patterns(*RUN_FILES, *skip))
    link_smollm2(target / "models")
    return target
