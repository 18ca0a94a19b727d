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

Prints p50/p95 per path and the added p50, and writes ``benchmarks/results/mcp_overhead.json``
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


async def measure(settings: Settings, calls: int, interleave: bool) -> dict[str, list[float]]:
    env = {**os.environ, "SAGE_HOME": str(settings.home), "SAGE_MCP_USER": CALLER["user"], "SAGE_MCP_ROLE": CALLER["role"], "SAGE_MCP_PURPOSE": CALLER["purpose"]}
    params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp", "serve"], env=env)
    resources = Resources.for_settings(settings)
    caller = Caller(**CALLER)
    times: dict[str, list[float]] = {"in_process": [], "mcp_stdio": []}

    def local(text: str) -> None:
        started = time.perf_counter()
        search(resources, caller, SearchRequest(text=text, k=5))
        times["in_process"].append((time.perf_counter() - started) * 1000)

    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def remote(text: str) -> None:
            started = time.perf_counter()
            result = await session.call_tool("similar_cases", {"text": text, "k": 5})
            times["mcp_stdio"].append((time.perf_counter() - started) * 1000)
            assert not result.isError, result.content[0].text  # type: ignore[union-attr]

        for text in QUERIES[:2]:  # warm-up: model load and shard lease on both sides
            local(text)
            await remote(text)
        times = {k: [] for k in times}
        if interleave:
            for i in range(calls):
                local(QUERIES[i % len(QUERIES)])
                await remote(QUERIES[i % len(QUERIES)])
        else:
            for i in range(calls):
                await remote(QUERIES[i % len(QUERIES)])
            for i in range(calls):
                local(QUERIES[i % len(QUERIES)])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--no-interleave", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mcp_overhead.json"))
    args = parser.parse_args()
    settings = Settings()
    load_before = os.getloadavg()
    times = anyio.run(measure, settings, args.calls, not args.no_interleave)
    summary: dict[str, Any] = {
        path: {"n": len(v), "p50_ms": round(statistics.median(v), 2), "p95_ms": round(pct(v, 0.95), 2), "mean_ms": round(statistics.fmean(v), 2)} for path, v in times.items()
    }
    summary["added_p50_ms"] = round(summary["mcp_stdio"]["p50_ms"] - summary["in_process"]["p50_ms"], 2)
    meta = {"calls": args.calls, "interleaved": not args.no_interleave, "home": str(settings.home), "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()], "target_added_ms": 5.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, **summary}, indent=2))
    for path in ("in_process", "mcp_stdio"):
        s = summary[path]
        print(f"{path:<11} n={s['n']:<4} p50 {s['p50_ms']:8.2f} ms  p95 {s['p95_ms']:8.2f} ms")
    print(f"added by MCP (p50): {summary['added_p50_ms']:.2f} ms (target <= 5 ms); load avg {meta['load_avg_before']} -> {meta['load_avg_after']}")


if __name__ == "__main__":
    main()
