"""The adapter registry: one folder per adapter under ``SAGE_HOME/adapters``.

Layout: ``adapters/<name>/{adapter_config.json, adapter_model.safetensors, manifest.json}``.
An adapter appears only when complete: training writes into a hidden temporary folder beside
the registry and :meth:`AdapterRegistry.install` renames it into place (a rename within one
file system is atomic), so a crash mid-training never leaves a half-written adapter behind.
Hidden folders (``.work`` for checkpoints, ``.tmp-*``) are not adapters.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from core.settings import Settings
from models.adapt.errors import (
    AdapterBaseMismatchError,
    AdapterCorruptError,
    AdapterExistsError,
    InvalidAdapterNameError,
    UnknownAdapterError,
)
from models.adapt.manifest import MANIFEST_FILE, AdapterManifest

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors", MANIFEST_FILE)


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe adapter name, else raise :class:`InvalidAdapterNameError`."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidAdapterNameError(
            f"invalid adapter name {name!r}",
            hint="use 1-64 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class AdapterRecord:
    """An installed adapter: its name, folder and manifest."""

    name: str
    path: Path
    manifest: AdapterManifest


class AdapterRegistry:
    """List, read, install and delete adapters in ``settings.adapters_dir``."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.adapters_dir

    def names(self) -> list[str]:
        """Names of the installed adapter folders (complete or not), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.fullmatch(p.name))

    def list(self) -> list[AdapterManifest]:
        """Manifests of every readable adapter; a corrupt one is logged and skipped, not fatal."""
        manifests: list[AdapterManifest] = []
        for name in self.names():
            try:
                manifests.append(self.get(name).manifest)
            except AdapterCorruptError as exc:
                log.warning("skipping adapter %s: %s", name, exc)
        return manifests

    def get(self, name: str, base_model: str | None = None) -> AdapterRecord:
        """The installed adapter ``name``; with ``base_model``, also check it was trained on that base.

        Raises:
            UnknownAdapterError: no such adapter (the message lists the installed ones).
            AdapterCorruptError: files missing or the manifest unreadable.
            AdapterBaseMismatchError: trained on a different base model.
        """
        path = self.root / validate_name(name)
        if not path.is_dir():
            known = ", ".join(self.names()) or "none installed"
            raise UnknownAdapterError(f"unknown adapter {name!r} (known: {known})", hint="see `sagehealth adapt list`, or train one with `sagehealth adapt train --name NAME`")
        missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
        if missing:
            raise AdapterCorruptError(f"adapter {name!r} at {path} is missing {', '.join(missing)}", hint=f"delete it (`sagehealth adapt delete {name}`) and train it again")
        try:
            manifest = AdapterManifest.read(path)
        except (OSError, ValueError, ValidationError) as exc:
            raise AdapterCorruptError(f"adapter {name!r}: unreadable {path / MANIFEST_FILE}: {exc}", hint=f"delete it (`sagehealth adapt delete {name}`) and train it again") from exc
        if manifest.name != name:
            raise AdapterCorruptError(f"adapter folder {path} holds a manifest for {manifest.name!r}", hint="rename the folder back or delete it")
        if base_model is not None and manifest.base_model != base_model:
            raise AdapterBaseMismatchError(
                f"adapter {name!r} was trained on base model {manifest.base_model!r}, not {base_model!r}",
                hint=f"load {manifest.base_model!r} as the base, or train an adapter for {base_model!r}",
            )
        return AdapterRecord(name, path, manifest)

    def staging_dir(self, name: str) -> Path:
        """A fresh hidden folder on the registry's file system to write an adapter into before install."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".tmp-{validate_name(name)}-", dir=self.root))

    def install(self, tmp_dir: Path, manifest: AdapterManifest, overwrite: bool = False) -> AdapterRecord:
        """Write the manifest into ``tmp_dir`` and move the complete folder into place atomically.

        Raises:
            AdapterExistsError: an adapter of that name exists and ``overwrite`` is False.
            AdapterCorruptError: ``tmp_dir`` lacks the adapter weights or config.
        """
        name = validate_name(manifest.name)
        manifest.write(tmp_dir)
        missing = [f for f in REQUIRED_FILES if not (tmp_dir / f).is_file()]
        if missing:
            raise AdapterCorruptError(f"cannot install adapter {name!r}: {tmp_dir} is missing {', '.join(missing)}", hint="save the PEFT model into the folder first")
        target = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if not overwrite:
                raise AdapterExistsError(f"adapter {name!r} already exists at {target}", hint=f"choose another name or delete it: `sagehealth adapt delete {name}`")
            # Move the old one aside first so the name always points at one complete adapter.
            trash = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=self.root))
            os.replace(target, trash / name)
            os.replace(tmp_dir, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp_dir, target)
        log.info("installed adapter %s at %s", name, target)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove adapter ``name`` (raises :class:`UnknownAdapterError` if absent)."""
        path = self.root / validate_name(name)
        if not path.is_dir():
            known = ", ".join(self.names()) or "none installed"
            raise UnknownAdapterError(f"unknown adapter {name!r} (known: {known})", hint="see `sagehealth adapt list`")
        # Rename first: a half-deleted folder must not look like an installed adapter.
        trash = Path(tempfile.mkdtemp(prefix=f".del-{name}-", dir=self.root))
        os.replace(path, trash / name)
        shutil.rmtree(trash, ignore_errors=True)

    def work_dir(self, name: str) -> Path:
        """Checkpoint folder of an in-progress training run (``adapters/.work/<name>``)."""
        return self.root / ".work" / validate_name(name)
