"""Micro-batching for concurrent callers of one model: their small requests share a forward pass.

A transformer forward pass on a handful of short texts is dominated by fixed costs (one matmul
per layer whatever the batch), so 8 threads each embedding 1-2 texts spend far more CPU than one
pass over all of them (benchmarks/api_load.py, docs/results.md). :class:`Coalescer` merges the
requests that arrive while a pass is running into the next pass:

- no timer and no extra thread: the first caller runs its own request at once (a lone caller
  waits for nothing); callers arriving meanwhile queue, and the next pass takes the whole queue;
- leader hand-over: a caller whose own result is ready returns, and promotes the oldest waiting
  caller to run the next pass, so nobody serves other callers' work after its own is done;
- an exception in a pass is raised in every caller of that pass, never swallowed.

Example::

    coalescer = Coalescer(lambda texts: model.embed(texts), max_items=32)
    vectors = coalescer.submit(["Small left pleural effusion."])   # thread-safe
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Job(Generic[T, R]):
    __slots__ = ("done", "error", "items", "results", "wake")

    def __init__(self, items: Sequence[T]) -> None:
        self.items = list(items)
        self.results: list[R] = []
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Event()  # set when done, or when promoted to run the next pass


class Coalescer(Generic[T, R]):
    """Run ``fn`` over the items of every request queued at the time, one call per pass.

    Args:
        fn: Maps a list of items to one result per item, in order (a model's batch call).
        max_items: Most items per pass; a request larger than this still runs whole, alone.
    """

    def __init__(self, fn: Callable[[list[T]], Sequence[R]], max_items: int = 32) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._fn = fn
        self.max_items = max_items
        self._lock = threading.Lock()
        self._queue: list[_Job[T, R]] = []
        self._running = False
        self.passes = 0  # how many calls of fn were made (the tests and benchmarks read it)

    def submit(self, items: Sequence[T]) -> list[R]:
        """Results for ``items``, computed in a pass shared with concurrent callers."""
        job: _Job[T, R] = _Job(items)
        with self._lock:
            self._queue.append(job)
            lead = not self._running
            self._running = True
        if not lead:
            job.wake.wait()
        if not job.done:  # this caller runs passes until its own request is served
            while not job.done:
                self._run_pass()
            self._hand_over()
        if job.error is not None:
            raise job.error
        return job.results

    def _take(self) -> list[_Job[T, R]]:
        with self._lock:
            batch: list[_Job[T, R]] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].items) <= self.max_items):
                job = self._queue.pop(0)
                batch.append(job)
                count += len(job.items)
            return batch

    def _run_pass(self) -> None:
        batch = self._take()
        flat = [item for job in batch for item in job.items]
        try:
            results = list(self._fn(flat))
            if len(results) != len(flat):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(flat)} items")
        except BaseException as exc:  # every caller of the pass sees the failure
            for job in batch:
                job.error = exc
        else:
            start = 0
            for job in batch:
                job.results = results[start : start + len(job.items)]
                start += len(job.items)
        finally:
            self.passes += 1
            for job in batch:
                job.done = True
                job.wake.set()

    def _hand_over(self) -> None:
        with self._lock:
            if self._queue:
                self._queue[0].wake.set()  # the oldest waiter runs the next pass
            else:
                self._running = False
