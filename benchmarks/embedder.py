"""Text embedder engines compared in one run: torch (eager + Coalescer) vs ONNX Runtime.

    .venv/bin/python benchmarks/embedder.py [--n 256] [--threads 8] [--seconds 10] [--queries 300]

Texts come from the shipped Indiana archive (``read_indiana``, reports in id order; no ingested
SAGE_HOME needed): the first ``--n`` distinct FINDINGS (or impressions where there are none) as
the bulk corpus, the distinct short impressions (at most 12 words) of those reports as queries. Per engine, same texts:

* **single**: one caller embeds one short query at a time (what a search does), ``--queries``
  calls after a warm-up: p50/p95 ms;
* **concurrent**: ``--threads`` threads, each embedding one short query per call for
  ``--seconds``: calls/s, p50/p95 ms (torch coalesces the callers' requests into shared passes;
  ONNX Runtime runs each on its own thread, releasing the GIL);
* **bulk**: all ``--n`` report texts in one call (what ingest does), ``--repeat`` times: seconds.

Both engines load before any timing; their load times are reported too (onnx: export into an
empty cache, then a second construction reusing it). The engines alternate per measurement and
the load average is recorded around each one, because the machine may be shared. The vectors of
the two engines are compared on the bulk texts (min cosine, max abs difference). Ratios are
onnx/torch (below 1: onnx is faster; above 1 for throughput: onnx serves more).
Writes ``benchmarks/results/embedder.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_k, _v)

import numpy as np  # noqa: E402

from lakehouse.ingest.indiana import read_indiana  # noqa: E402
from models.embedder import ONNX_BULK_WORKERS, TextEmbedder  # noqa: E402

ENGINES = ("torch", "onnx")


def _texts(n: int) -> tuple[list[str], list[str]]:
    """(``n`` distinct report texts, distinct short queries), Indiana reports in id order.

    Distinct, because the embedder embeds a repeated text once: duplicates would flatter bulk.
    """
    corpus: dict[str, None] = {}
    queries: dict[str, None] = {}
    for report in read_indiana():
        if report.findings or report.impression:
            corpus[report.findings or report.impression] = None
        if report.impression and len(report.impression.split()) <= 12:
            queries[report.impression] = None
        if len(corpus) == n:
            break
    return list(corpus), list(queries)


def _ms(times: list[float]) -> dict[str, float]:
    return {"ms_p50": round(statistics.median(times), 2), "ms_p95": round(float(np.percentile(times, 95)), 2), "ms_mean": round(statistics.mean(times), 2)}


def _with_loadavg(measure: Callable[[TextEmbedder], dict[str, Any]], embedder: TextEmbedder) -> dict[str, Any]:
    before = os.getloadavg()
    result = measure(embedder)
    return {**result, "load_average_before": [round(x, 2) for x in before], "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def _single(embedder: TextEmbedder, queries: list[str], calls: int) -> dict[str, Any]:
    for text in queries[:20]:  # warm-up
        embedder.embed([text])
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        embedder.embed([queries[i % len(queries)]])
        times.append((time.perf_counter() - t0) * 1000)
    return {"calls": calls, **_ms(times)}


def _concurrent(embedder: TextEmbedder, queries: list[str], threads: int, seconds: float) -> dict[str, Any]:
    times: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def caller(worker: int) -> None:
        start.wait()
        deadline, i = time.perf_counter() + seconds, worker * 7
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            embedder.embed([queries[i % len(queries)]])
            times[worker].append((time.perf_counter() - t0) * 1000)
            i += 1

    pool = [threading.Thread(target=caller, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = [x for per in times for x in per]
    return {"threads": threads, "seconds": round(elapsed, 2), "calls": len(flat), "calls_per_s": round(len(flat) / elapsed, 1), **_ms(flat)}


def _bulk(embedder: TextEmbedder, corpus: list[str], repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        embedder.embed(corpus)
        runs.append(time.perf_counter() - t0)
    return {"texts": len(corpus), "runs_s": [round(r, 2) for r in runs], "s_median": round(statistics.median(runs), 2), "texts_per_s": round(len(corpus) / statistics.median(runs), 1)}


def _load(cache: Path) -> tuple[dict[str, TextEmbedder], dict[str, float]]:
    """Both engines, timed: torch, onnx with an export into an empty cache, onnx again from the cache."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    torch_embedder = TextEmbedder(engine="torch")
    seconds["torch"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    TextEmbedder(engine="onnx", onnx_dir=cache)
    seconds["onnx_export"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    onnx_embedder = TextEmbedder(engine="onnx", onnx_dir=cache)
    seconds["onnx_cached"] = time.perf_counter() - t0
    assert onnx_embedder.engine == "onnx", "the ONNX export fell back to torch: see the warning above"
    return {"torch": torch_embedder, "onnx": onnx_embedder}, {k: round(v, 2) for k, v in seconds.items()}


def _ratios(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, float]:
    def ratio(part: str, key: str) -> float:
        return round(results["onnx"][part][key] / results["torch"][part][key], 3)

    return {
        "single_p50": ratio("single", "ms_p50"), "single_p95": ratio("single", "ms_p95"),
        "concurrent_calls_per_s": ratio("concurrent", "calls_per_s"), "concurrent_p50": ratio("concurrent", "ms_p50"),
        "concurrent_p95": ratio("concurrent", "ms_p95"), "bulk_seconds": ratio("bulk", "s_median"),
    }


def main() -> None:
    """Load both engines, measure single, concurrent and bulk per engine; print and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="distinct report texts in the bulk corpus")
    parser.add_argument("--queries", type=int, default=300, help="calls in the single-caller measurement")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrent measurement")
    parser.add_argument("--repeat", type=int, default=3, help="bulk runs per engine")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "embedder.json")
    args = parser.parse_args()

    import onnxruntime
    import torch

    corpus, queries = _texts(args.n)
    with tempfile.TemporaryDirectory(prefix="sage-bench-onnx-") as cache:
        embedders, load_s = _load(Path(cache))
        results: dict[str, dict[str, dict[str, Any]]] = {engine: {} for engine in ENGINES}
        parts: dict[str, Callable[[TextEmbedder], dict[str, Any]]] = {
            "single": lambda e: _single(e, queries, args.queries),
            "concurrent": lambda e: _concurrent(e, queries, args.threads, args.seconds),
            "bulk": lambda e: _bulk(e, corpus, args.repeat),
        }
        for part, measure in parts.items():
            for engine in ENGINES:
                results[engine][part] = _with_loadavg(measure, embedders[engine])
                print(part, engine, json.dumps(results[engine][part]), flush=True)
        a, b = embedders["onnx"].embed(corpus), embedders["torch"].embed(corpus)
    result = {
        "benchmark": "embedder",
        "model": TextEmbedder.name,
        "texts": {"source": "Indiana archive, reports in id order, distinct texts", "corpus": len(corpus), "corpus_mean_words": round(statistics.mean(len(t.split()) for t in corpus), 1),
                  "queries": len(queries), "queries_mean_words": round(statistics.mean(len(q.split()) for q in queries), 1)},
        "load_s": load_s,
        "engines": results,
        "ratios_onnx_over_torch": _ratios(results),
        "parity": {"min_cosine": round(float(np.min(np.sum(a * b, axis=1))), 7), "max_abs_diff": float(np.abs(a - b).max())},
        "config": {"torch_threads": torch.get_num_threads(), "torch_batch": embedders["torch"].batch_size, "onnx_intra_op_threads": 1,
                   "onnx_batch": embedders["onnx"].batch_size, "onnx_bulk_workers": ONNX_BULK_WORKERS},
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "python": platform.python_version()},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: OpenMP default, active spin)"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
