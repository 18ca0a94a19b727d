"""Closing a process's backends: one that fails to close does not keep the others open."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import Settings
from lakehouse.semantic import SearchFilter
from tools.resources import Resources


class Probe:
    """Stands in for any other backend: records that it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_close_goes_on_past_a_shard_whose_folder_is_gone(home_copy: Callable[[Path], Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = home_copy(tmp_path / "home")
    resources = Resources(settings)
    store = resources.store
    point = store.scroll(SearchFilter(split="train"), limit=1)[0]
    store.set_payload(point.case_id, {"note": "unflushed"})  # a write the shard must flush on close
    probe = resources.derived("probe", Probe)
    shutil.rmtree(settings.qdrant_path)  # as when a test's tmp_path is removed before the process exits
    with caplog.at_level(logging.WARNING, logger="tools.resources"):
        resources.close()
    assert probe.closed, "the backend after the failing one is closed too"
    assert "closing" in caplog.text and "failed" in caplog.text
