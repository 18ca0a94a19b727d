"""What MCP adds to a similar-case search: a ``similar_cases`` call over stdio vs ``services.data.search`` in-process.

    SAGE_HOME=.sage .venv/bin/python -m benchmarks.mcp_overhead --calls 40

Both paths run the same service with the same caller (a clinician) on the same lakehouse, so
both pay the embedding, the Qdrant Edge search, the policy check, the audit entry and the span;
the difference is the MCP path: JSON-RPC over the child's stdin/stdout, the client and server
SDKs, the worker-thread hop and the result's JSON encoding. Each path is warmed up (model load,
shard lease) before timing; calls alternate between the two paths so that load from other
processes hits both alike. The queries cycle over a fixed list of findings texts.

The Qdrant Edge shard is leased between processes: the in-process path and the server child
take turns holding it, which is part of what the figure includes when both run on one home;
``--no-interleave`` times the two paths one after the other instead (one lease handover).

Both sides run torch with ``--torch-threads`` intra-op threads (default 1: ``OMP_NUM_THREADS``
for the server child, ``torch.set_num_threads`` here). Without it the two paths are not alike:
on an oversubscribed machine two OpenMP threads spin against each other and one embedding in the
main thread took ~1.2 s, while the server runs the service in a worker thread (~30 ms), which
made MCP look 1.2 s *faster* than in-process.

On a loaded machine the two paths' service times drift apart between phases by far more than
5 ms, so the benchmark also measures the overhead *paired, per call*: each call's round trip
minus the duration of its own ``invoke_workflow`` span (the service, read back from
``SAGE_HOME/traces/spans.jsonl``, written by whichever process ran it). What is left is what the
path adds around the service: for MCP the client and server SDKs, JSON-RPC over the pipes,
argument checks, the worker-thread hop and the result's encoding; in-process, almost nothing.

Prints p50/p95 per path, the added p50 both ways, and writes ``benchmarks/results/mcp_overhead.json``
with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from core.settings import Settings
from services.base import Caller
from services.data import SearchRequest, search
from tools.resources import Resources

QUERIES = [
    "Heart size is enlarged. Small left pleural effusion.",
    "The lungs are clear. No pneumothorax or pleural effusion.",
    "Right lower lobe airspace opacity concerning for pneumonia.",
    "Hyperinflated lungs with flattened diaphragms. No acute infiltrate.",
    "Mild pulmonary vascular congestion with cardiomegaly.",
]
CALLER = {"user": "bench", "role": "clinician", "purpose": "treatment"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(settings: Settings, calls: int, interleave: bool, torch_threads: int) -> dict[str, list[float]]:
    env = {**os.environ, "SAGE_HOME": str(settings.home), "SAGE_MCP_USER": CALLER["user"], "SAGE_MCP_ROLE": CALLER["role"], "SAGE_MCP_PURPOSE": CALLER["purpose"],
           "OMP_NUM_THREADS": str(torch_threads)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp", "serve"], env=env)
    resources = Resources.for_settings(settings)
    caller = Caller(**CALLER)
    times: dict[str, list[float]] = {"in_process": [], "mcp_stdio": []}
    windows: dict[str, list[tuple[int, int, float]]] = {"in_process": [], "mcp_stdio": []}  # (start_ns, end_ns, round-trip ms)

    def local(text: str) -> None:
        wall, started = time.time_ns(), time.perf_counter()
        search(resources, caller, SearchRequest(text=text, k=5))
        times["in_process"].append((time.perf_counter() - started) * 1000)
        windows["in_process"].append((wall, time.time_ns(), times["in_process"][-1]))

    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def remote(text: str) -> None:
            wall, started = time.time_ns(), time.perf_counter()
            result = await session.call_tool("similar_cases", {"text": text, "k": 5})
            times["mcp_stdio"].append((time.perf_counter() - started) * 1000)
            windows["mcp_stdio"].append((wall, time.time_ns(), times["mcp_stdio"][-1]))
            assert not result.isError, result.content[0].text  # type: ignore[union-attr]

        for text in QUERIES[:2]:  # warm-up: model load and shard lease on both sides
            local(text)
            await remote(text)
        for series in times.values():
            series.clear()
        for window in windows.values():
            window.clear()
        if interleave:
            for i in range(calls):
                local(QUERIES[i % len(QUERIES)])
                await remote(QUERIES[i % len(QUERIES)])
        else:
            for i in range(calls):
                await remote(QUERIES[i % len(QUERIES)])
            for i in range(calls):
                local(QUERIES[i % len(QUERIES)])
    resources.close()
    return {**times, **{f"{path}_outside_service": outside_service(settings.traces_path, w) for path, w in windows.items()}}


def outside_service(spans_path: Path, windows: list[tuple[int, int, float]]) -> list[float]:
    """Per call: round trip minus its own service span (``invoke_workflow``, caller ``bench``), in ms."""
    roots = []
    for line in spans_path.read_text(encoding="utf-8").splitlines() if spans_path.exists() else []:
        span = json.loads(line)
        if span["name"].startswith("invoke_workflow") and span.get("parent_id") is None and span["attributes"].get("sage.user") == CALLER["user"]:
            roots.append((span["start_ns"], span["end_ns"]))
    found = []
    for start, end, trip in windows:
        inside = [(s, e) for s, e in roots if start <= s and e <= end]
        if len(inside) == 1:
            found.append(trip - (inside[0][1] - inside[0][0]) / 1e6)
    return found


def bootstrap_ci(a: list[float], b: list[float], rounds: int = 2000, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of median(a) - median(b)."""
    import random

    rng = random.Random(seed)
    diffs = sorted(statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b))) for _ in range(rounds))
    return [round(diffs[int(0.025 * rounds)], 2), round(diffs[int(0.975 * rounds) - 1], 2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--no-interleave", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=1, help="intra-op threads of torch on both sides (default 1)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mcp_overhead.json"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.torch_threads)
    settings = Settings()
    load_before = os.getloadavg()
    times = anyio.run(measure, settings, args.calls, not args.no_interleave, args.torch_threads)
    summary: dict[str, Any] = {
        path: {"n": len(v), "p50_ms": round(statistics.median(v), 2), "p95_ms": round(pct(v, 0.95), 2), "mean_ms": round(statistics.fmean(v), 2)} for path, v in times.items() if v
    }
    summary["added_p50_ms"] = round(summary["mcp_stdio"]["p50_ms"] - summary["in_process"]["p50_ms"], 2)
    if "mcp_stdio_outside_service" in summary and "in_process_outside_service" in summary:  # paired: round trip minus the call's own service span
        summary["added_paired_p50_ms"] = round(summary["mcp_stdio_outside_service"]["p50_ms"] - summary["in_process_outside_service"]["p50_ms"], 2)
        summary["added_paired_p50_ci95_ms"] = bootstrap_ci(times["mcp_stdio_outside_service"], times["in_process_outside_service"])
    meta = {"calls": args.calls, "interleaved": not args.no_interleave, "torch_threads": args.torch_threads, "home": str(settings.home), "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()], "target_added_ms": 5.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, **summary}, indent=2))
    for path in ("in_process", "mcp_stdio", "in_process_outside_service", "mcp_stdio_outside_service"):
        if s := summary.get(path):
            print(f"{path:<27} n={s['n']:<4} p50 {s['p50_ms']:8.2f} ms  p95 {s['p95_ms']:8.2f} ms")
    print(f"added by MCP (p50 of each path): {summary['added_p50_ms']:.2f} ms; paired per call (round trip minus own service span): "
          f"{summary.get('added_paired_p50_ms', float('nan')):.2f} ms, 95% CI {summary.get('added_paired_p50_ci95_ms')} (target <= 5 ms); load avg {meta['load_avg_before']} -> {meta['load_avg_after']}")


if __name__ == "__main__":
    main()
