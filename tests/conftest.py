"""Shared fixtures: one small real lakehouse per test run, built offline in a temporary SAGE_HOME."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import Settings

# Session-scoped fixtures cannot use monkeypatch; only offline switches are set, and only if unset.
for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}.items():
    os.environ.setdefault(_key, _value)

# The audit chain's HMAC key defaults to ~/.config/sagehealth/audit.key: tests never create or
# read a real key (forced, not setdefault, so a developer's own key is never touched).
os.environ["SAGE_AUDIT_KEY_FILE"] = str(Path(tempfile.mkdtemp(prefix="sage-test-key-")) / "audit.key")

# The embedder's ONNX export (~2 s, 90 MB) is keyed by model and torch, not by home: one shared
# folder per test run instead of one export per temporary SAGE_HOME (subprocesses inherit it).
os.environ.setdefault("SAGE_ONNX_CACHE", tempfile.mkdtemp(prefix="sage-test-onnx-"))

SMALL_LAKEHOUSE_REPORTS = 300


@pytest.fixture(scope="session")
def small_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real two-tier lakehouse with the first 300 Indiana reports (by id) and their synthetic FHIR records.

    Built once per test run through the same ``ingest_default`` users run; read-only for tests
    (a test that writes builds its own lakehouse under ``tmp_path``).
    """
    from lakehouse.ingest.pipeline import ingest_default

    settings = Settings(home=tmp_path_factory.mktemp("sage-home"))
    report = ingest_default(settings, limit=SMALL_LAKEHOUSE_REPORTS, progress=False)
    assert report.tables["reports"].new > 0, report.errors
    return settings


CACHED_MODEL = Path("/tmp/sage-models/smollm2-135m")


@pytest.fixture(scope="session")
def home_copy(small_lakehouse: Settings) -> Callable[[Path], Settings]:
    """A function making a writable copy of the small lakehouse (runs write checkpoints, traces, audit, keys)."""

    def copy(target: Path) -> Settings:
        shutil.copytree(small_lakehouse.home, target, ignore=shutil.ignore_patterns("traces", "audit", "checkpoints.sqlite*", "models", "keys.*"))
        if CACHED_MODEL.is_dir():  # saves dequantizing the GGUF again in this home
            (target / "models").mkdir(exist_ok=True)
            (target / "models" / "smollm2-135m").symlink_to(CACHED_MODEL)
        return Settings(home=target, checkpointer="sqlite")

    return copy
