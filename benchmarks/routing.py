"""Routing latency per decision on CPU, without the LLM: prints the figures and writes JSON.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/routing.py [--threads 2] [--out benchmarks/results/routing.json]

The router is fit on the dev split (fit time reported separately), then every test-split request
is routed once as warm-up and ``--repeat`` times measured, one request at a time (as chat does).
The load average is recorded because the machine may be shared.
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


def main() -> None:
    """Fit, warm up, measure, print and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the target is 2 CPU cores)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "routing.json")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from agents.router import Router, load_examples
    from core.settings import Settings
    from tools.resources import Resources

    load_before = os.getloadavg()
    embedder = Resources(Settings(home=Path(tempfile.mkdtemp(prefix="sage-bench-")))).embedder
    started = time.perf_counter()
    router = Router.load(embedder)
    fit_s = time.perf_counter() - started
    test = load_examples(split="test")
    for example in test:
        router.route(example.text, example.history)
    times: list[float] = []
    for _ in range(args.repeat):
        for example in test:
            t0 = time.perf_counter()
            router.route(example.text, example.history)
            times.append((time.perf_counter() - t0) * 1000)
    result = {
        "benchmark": "routing",
        "decisions": len(times),
        "threads": args.threads,
        "fit_s": round(fit_s, 2),
        "ms_p50": round(statistics.median(times), 2),
        "ms_p95": round(float(np.percentile(times, 95)), 2),
        "ms_max": round(max(times), 2),
        "ms_mean": round(statistics.mean(times), 2),
        "target_ms": 50,
        "llm": False,
        "examples_fit": sum(1 for e in load_examples(split="dev") if not e.steps and not e.history),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
