"""Routing latency per decision on CPU, without the LLM: prints the figures and writes JSON.

Usage::

    python benchmarks/routing.py [--threads 1,2] [--repeat 3] [--out benchmarks/results/routing.json]

The router is fit on the dev split (fit time reported separately), then, for each torch thread
count in the same run, every test-split request is routed once as warm-up and ``--repeat`` times
measured, one request at a time (as chat does). The load average is recorded per thread count
because the machine may be shared: one decision embeds one short text, and on a loaded 2-core
machine two intra-op threads mostly wait on each other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


def _measure(router: object, examples: list, repeat: int) -> list[float]:
    times: list[float] = []
    for example in examples:  # warm-up: every request once
        router.route(example.text, example.history)  # type: ignore[attr-defined]
    for _ in range(repeat):
        for example in examples:
            t0 = time.perf_counter()
            router.route(example.text, example.history)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    """Fit, then per thread count: warm up, measure; print and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="1,2", help="torch intra-op thread counts to compare in this run (the target is 2 CPU cores)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "routing.json")
    args = parser.parse_args()

    import numpy as np
    import torch

    from agents.router import Router, load_examples
    from core.settings import Settings
    from tools.resources import Resources

    embedder = Resources(Settings(home=Path(tempfile.mkdtemp(prefix="sage-bench-")))).embedder
    started = time.perf_counter()
    router = Router.load(embedder)
    fit_s = time.perf_counter() - started
    test = load_examples(split="test")
    runs = []
    for threads in [int(t) for t in str(args.threads).split(",")]:
        torch.set_num_threads(threads)
        load_before = os.getloadavg()
        times = _measure(router, test, args.repeat)
        runs.append({
            "threads": threads,
            "decisions": len(times),
            "ms_p50": round(statistics.median(times), 2),
            "ms_p95": round(float(np.percentile(times, 95)), 2),
            "ms_max": round(max(times), 2),
            "ms_mean": round(statistics.mean(times), 2),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        })
    result = {
        "benchmark": "routing",
        "fit_s": round(fit_s, 2),
        "examples_fit": sum(1 for e in load_examples(split="dev") if not e.steps and not e.history),
        "target_ms": 50,
        "llm": False,
        "runs": runs,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: OpenMP default, active spin)"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
