"""The micro-batcher: concurrent requests share passes, results stay each caller's own, errors reach every caller."""

from __future__ import annotations

import threading
import time

import pytest

from models.coalesce import Coalescer


def _slow_square(seen: list[list[int]], delay: float = 0.02):  # noqa: ANN202
    def fn(items: list[int]) -> list[int]:
        seen.append(list(items))
        time.sleep(delay)  # a pass takes time, so callers arriving meanwhile queue
        return [i * i for i in items]
    return fn


def test_a_lone_caller_runs_at_once_in_its_own_pass() -> None:
    seen: list[list[int]] = []
    c = Coalescer(_slow_square(seen, 0.0))
    assert c.submit([2, 3]) == [4, 9] and c.submit([]) == []
    assert seen == [[2, 3], []] and c.passes == 2


def test_concurrent_callers_share_passes_and_get_their_own_results() -> None:
    seen: list[list[int]] = []
    c = Coalescer(_slow_square(seen), max_items=64)
    results: dict[int, list[int]] = {}
    start = threading.Barrier(16)

    def call(n: int) -> None:
        start.wait()
        results[n] = c.submit([n, n + 100])

    threads = [threading.Thread(target=call, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: [n * n, (n + 100) ** 2] for n in range(16)}
    assert c.passes < 16 and max(len(s) for s in seen) > 2  # some passes carried several callers
    assert sorted(i for s in seen for i in s) == sorted([n for n in range(16)] + [n + 100 for n in range(16)])  # nothing twice


def test_a_pass_never_exceeds_max_items_unless_one_request_is_larger() -> None:
    seen: list[list[int]] = []
    c = Coalescer(_slow_square(seen), max_items=4)
    threads = [threading.Thread(target=c.submit, args=([n] * 3,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(s) <= 4 for s in seen) and c.passes == 6  # 3 + 3 > 4: each request alone
    assert c.submit(list(range(10))) == [i * i for i in range(10)]  # larger than max_items: runs whole


def test_an_error_reaches_every_caller_of_the_pass_and_the_next_pass_works() -> None:
    calls = {"n": 0}

    def fn(items: list[int]) -> list[int]:
        calls["n"] += 1
        time.sleep(0.02)
        if calls["n"] <= 2:
            raise ValueError("model failed")
        return items

    c = Coalescer(fn)
    errors: list[BaseException] = []

    def call(n: int) -> None:
        try:
            c.submit([n])
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 5 and c.passes == 2  # the first caller's pass, then everybody else's
    assert c.submit([7]) == [7]


def test_a_wrong_result_count_is_an_error_not_a_misalignment() -> None:
    c = Coalescer(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
        c.submit([1, 2])
