"""One embedded Qdrant Edge shard shared by several real processes (``lakehouse.semantic.shared``).

Four searching processes and one writing process run at once on the same shard: every search
answers, every write lands, and nothing is lost; inside one process, two stores on the same
shard hand it to each other the same way.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from lakehouse.semantic import CasePoint, SearchFilter
from lakehouse.semantic.base import VECTORS
from lakehouse.semantic.edge import EdgeStore
from lakehouse.semantic.shared import SharedEdgeStore

BASE, ADDED, SEARCHES = 200, 120, 25


def _points(start: int, n: int, seed: int) -> list[CasePoint]:
    rng = np.random.default_rng(seed)
    points = []
    for i in range(start, start + n):
        vectors = {name: rng.standard_normal(dim).astype(np.float32) for name, dim in VECTORS.items() if name != "image"}
        unit = {name: (v / np.linalg.norm(v)).tolist() for name, v in vectors.items()}
        points.append(CasePoint(case_id=f"CXR{i}", vectors=unit, payload={"split": "train", "labels": {}, "positive_findings": [], "label_version": 1}))
    return points


def _searcher(root: str, seed: int, out: mp.Queue) -> None:
    store = SharedEdgeStore(Path(root), "cases", wait_s=120)
    rng = np.random.default_rng(seed)
    answered = 0
    try:
        for _ in range(SEARCHES):
            q = rng.standard_normal(VECTORS["text"]).astype(np.float32)
            hits = store.search((q / np.linalg.norm(q)).tolist(), filter=SearchFilter(split="train"), limit=5)
            answered += len(hits) == 5
    finally:
        store.close()
    out.put(("search", answered))


def _writer(root: str, out: mp.Queue) -> None:
    store = SharedEdgeStore(Path(root), "cases", wait_s=120)
    try:
        for start in range(BASE, BASE + ADDED, 10):  # many small writes, interleaved with the searches
            store.upsert(_points(start, 10, seed=start))
    finally:
        store.close()
    out.put(("write", ADDED))


@pytest.fixture
def shard(tmp_path: Path) -> Path:
    store = EdgeStore(tmp_path, "cases")
    store.ensure_collection(VECTORS)
    store.upsert(_points(0, BASE, seed=0))
    store.close()
    return tmp_path


def test_four_searching_processes_and_a_writer_share_one_shard(shard: Path) -> None:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_searcher, args=(str(shard), seed, out)) for seed in range(4)]
    procs.append(ctx.Process(target=_writer, args=(str(shard), out)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * 5, "every process finished without a lock error"
    results = sorted(out.get(timeout=5) for _ in procs)
    assert results == [("search", SEARCHES)] * 4 + [("write", ADDED)], "every search answered, every write landed"
    store = SharedEdgeStore(shard, "cases")
    try:
        assert store.count() == BASE + ADDED, "nothing lost"
        assert {p.case_id for p in store.retrieve([f"CXR{BASE + ADDED - 1}", "CXR0"])} == {f"CXR{BASE + ADDED - 1}", "CXR0"}
    finally:
        store.close()


def test_two_stores_in_one_process_hand_the_shard_over(shard: Path) -> None:
    first, second = SharedEdgeStore(shard, "cases", wait_s=30), SharedEdgeStore(shard, "cases", wait_s=30)
    try:
        assert first.count() == BASE
        second.upsert(_points(BASE, 5, seed=9))  # first holds the lease: second asks, first hands over
        assert first.count() == BASE + 5, "the shard is reloaded with the other store's write"
        assert first.handovers >= 1 and second.handovers >= 1
    finally:
        first.close()
        second.close()


def test_a_holder_that_never_releases_times_out_with_a_clear_error(shard: Path) -> None:
    import fcntl
    import os

    from lakehouse.semantic import StoreLockedError

    fd = os.open(shard / "cases.lease", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a process stuck holding the lease
    store = SharedEdgeStore(shard, "cases", wait_s=0.5)
    try:
        with pytest.raises(StoreLockedError, match="leased by another process"):
            store.count()
    finally:
        os.close(fd)
        store.close()
