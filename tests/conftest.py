"""Shared fixtures: one small real lakehouse per test run, built offline in a temporary SAGE_HOME."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import Settings
from tests.homes import MODELS_ENV, copy_home, link_smollm2

# Session-scoped fixtures cannot use monkeypatch; only offline switches are set, and only if unset.
for _key, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}.items():
    os.environ.setdefault(_key, _value)

_RUN_FOLDERS: list[Path] = []
"""Temporary folders this test run made for itself, removed when it ends."""


def _run_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _RUN_FOLDERS.append(folder)
    return folder


# The audit chain's HMAC key defaults to ~/.config/sagehealth/audit.key: tests never create or
# read a real key (forced, not setdefault, so a developer's own key is never touched).
os.environ["SAGE_AUDIT_KEY_FILE"] = str(_run_folder("sage-test-key-") / "audit.key")

# The embedder's ONNX export (~2 s, 90 MB) is keyed by model and torch, not by home: one shared
# folder per test run instead of one export per temporary SAGE_HOME (subprocesses inherit it).
# Likewise one dequantized SmolLM2 per test run (tests/homes.py). Set either to keep it across runs.
for _env, _prefix in (("SAGE_ONNX_CACHE", "sage-test-onnx-"), (MODELS_ENV, "sage-test-models-")):
    if _env not in os.environ:
        os.environ[_env] = str(_run_folder(_prefix))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the stores tests left open, then remove the run's own temporary folders.

    Runs before pytest removes the tmp_path folders of a passing run (its retention policy), so
    no shard is flushed into a deleted folder at exit.
    """
    from tools.resources import Resources

    Resources.close_all()
    for folder in _RUN_FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)


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
    link_smollm2(settings.models_dir)
    return settings


@pytest.fixture(scope="session")
def home_copy(small_lakehouse: Settings) -> Callable[[Path], Settings]:
    """A function making a writable copy of the small lakehouse (runs write checkpoints, traces, audit, keys)."""

    def copy(target: Path) -> Settings:
        return Settings(home=copy_home(small_lakehouse.home, target), checkpointer="sqlite")

    return copy
