"""Fixtures of the command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from tests.homes import copy_home


@pytest.fixture
def home(small_lakehouse: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A writable copy of the session lakehouse, as the SAGE_HOME of the commands a test invokes.

    (Tests of commands that need no lakehouse define an empty ``home`` of their own.)
    """
    target = copy_home(small_lakehouse.home, tmp_path / "home")
    monkeypatch.setenv("SAGE_HOME", str(target))
    return Settings(home=target)
