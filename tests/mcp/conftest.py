"""MCP tests: a writable copy of the small lakehouse, and the environment of a server subprocess on it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from policies.audit import AuditLog
from tests.homes import copy_home

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "app.cli", "mcp", "serve"]


@pytest.fixture(scope="module")
def mcp_home(small_lakehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("mcp") / "home"
    return copy_home(small_lakehouse.home, home)


def _server_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment of a ``sagehealth mcp serve`` child on ``home`` (this checkout's code, offline, one thread)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGE_")}
    env.update(SAGE_HOME=str(home), SAGE_CHECKPOINTER="sqlite", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


def _audit_entries(home: Path) -> list[dict[str, Any]]:
    """Every audit event of ``home`` (empty before the first)."""
    return [e.model_dump(mode="json") for e in AuditLog(Settings(home=home).audit_path).entries()]


@pytest.fixture(scope="session")
def server_env() -> Callable[..., dict[str, str]]:
    """``server_env(home, **extra)``: the environment of a server child on ``home``."""
    return _server_env


@pytest.fixture(scope="session")
def audit_entries() -> Callable[[Path], list[dict[str, Any]]]:
    """``audit_entries(home)``: the audit events of ``home``."""
    return _audit_entries


@pytest.fixture(scope="session")
def serve_command() -> list[str]:
    """The command line of ``sagehealth mcp serve`` from this checkout."""
    return list(SERVE)


@pytest.fixture(scope="module")
def small_patient_id(small_lakehouse: Settings) -> str:
    """A patient of the small lakehouse."""
    from lakehouse.query import QueryEngine

    engine = QueryEngine(small_lakehouse)
    try:
        return str(engine.sql("SELECT patient_id FROM patients ORDER BY patient_id LIMIT 1").records()[0]["patient_id"])
    finally:
        engine.close()
