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


def test_a_slow_build_holds_up_only_its_own_name(tmp_path: Path) -> None:
    """A refit in progress (the planner after a correction) must not stall every other backend of a server."""
    import threading
    import time

    resources = Resources(Settings(home=tmp_path))
    started, release, builds = threading.Event(), threading.Event(), []

    def slow() -> Probe:
        builds.append(1)
        started.set()
        release.wait(10)
        return Probe()

    waiters = [threading.Thread(target=lambda: resources.derived("planner", slow)) for _ in range(3)]
    waiters[0].start()
    assert started.wait(10)
    for t in waiters[1:]:
        t.start()
    begin = time.perf_counter()
    assert resources.policy is resources.policy and resources.derived("other", Probe)  # not behind the slow build
    assert time.perf_counter() - begin < 5 and not release.is_set()
    release.set()
    for t in waiters:
        t.join(10)
    assert len(builds) == 1, "callers of the same name wait for the one build"


def test_a_build_overtaken_by_a_drop_is_not_kept(tmp_path: Path) -> None:
    """Labels corrected while the planner was being fitted from the old ones: the next use fits again."""
    import threading

    resources = Resources(Settings(home=tmp_path))
    started, release = threading.Event(), threading.Event()

    def stale() -> Probe:
        started.set()
        release.wait(10)
        return Probe()

    got: list[Probe] = []
    builder = threading.Thread(target=lambda: got.append(resources.derived("impression_planner:train", stale)))
    builder.start()
    assert started.wait(10)
    resources.drop("impression_planner")  # the correction lands mid-build
    release.set()
    builder.join(10)
    fresh = resources.derived("impression_planner:train", Probe)
    assert got and fresh is not got[0], "the stale build was handed to its caller only"
    assert resources.derived("impression_planner:train", Probe) is fresh
