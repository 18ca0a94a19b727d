"""End-to-end latency of one report run (the clinician's wait), warm, on this machine.

Runs the report task in ``rag`` mode through the whole governed graph (planner, governance,
retrieval, generation with the default model, labelling, PHI post-check, SQLite checkpoints,
tracing to the JSON-lines file) on test-split cases of the ingested lakehouse, one at a time,
after one warm-up run that loads the models. Prints p50/p95 of the wall time and of the two
costly tools (retrieval, generation), and writes benchmarks/results/report_latency.json.

    SAGE_HOME=.sage .venv/bin/python benchmarks/report_latency.py --n 20 [--adapter NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from core.settings import Settings
from core.telemetry import configure_tracing

CASES_SQL = (
    "SELECT report_id, findings, indication FROM reports WHERE split = 'test' AND length(findings) > 20 "
    "ORDER BY report_id LIMIT {n}"
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="test cases (one run each, after a warm-up)")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--mode", default="rag", choices=["rag", "rag-lm", "no-rag", "retrieval-only"], help="report mode (rag-lm: the model drafts from retrieved cases)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/report_latency.json"))
    args = parser.parse_args()

    from lakehouse.query import QueryEngine
    from services.base import Caller
    from services.runs import RunRequest, run_task
    from tools.resources import Resources

    settings = Settings()
    configure_tracing(settings)
    cases = QueryEngine(settings).sql(CASES_SQL.format(n=args.n + 1)).records()
    if len(cases) < 2:
        raise SystemExit("no test-split cases: run `sagehealth ingest` first")

    def run(case: dict) -> tuple[float, dict[str, float], str]:
        task_input = {"findings": case["findings"], "indication": case.get("indication") or "", "case_id": case["report_id"], "max_new_tokens": args.max_new_tokens, "mode": args.mode}
        start = time.perf_counter()
        result = run_task(Resources.for_settings(settings), Caller(user="bench", role="clinician", purpose="treatment"), RunRequest(task="report", input=task_input, adapter=args.adapter))
        wall = (time.perf_counter() - start) * 1000
        tools: dict[str, float] = {}
        for call in result.tool_calls:
            tools[call["tool"]] = tools.get(call["tool"], 0.0) + float(call["ms"])
        return wall, tools, result.status

    run(cases[0])  # warm-up: model load (and GGUF materialisation on a first run), stores, embedder
    walls, retrieval, generation, statuses = [], [], [], []
    for case in cases[1:]:
        wall, tools, status = run(case)
        walls.append(wall)
        retrieval.append(tools.get("retrieve_similar_cases", 0.0))
        generation.append(tools.get("generate_text", 0.0))
        statuses.append(status)

    summary = {
        "n": len(walls),
        "adapter": args.adapter,
        "mode": args.mode,
        "load_average": list(os.getloadavg()),
        "model": settings.chat_model,
        "max_new_tokens": args.max_new_tokens,
        "p50_ms": statistics.median(walls),
        "p95_ms": percentile(walls, 95),
        "retrieval_p50_ms": statistics.median(retrieval),
        "generation_p50_ms": statistics.median(generation),
        "other_p50_ms": statistics.median(w - r - g for w, r, g in zip(walls, retrieval, generation, strict=True)),
        "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
        "target_p50_ms": 3000,
    }
    print(f"report run, rag, {summary['n']} test cases, model {summary['model']}" + (f" + {args.adapter}" if args.adapter else ""))
    print(f"  end to end   p50 {summary['p50_ms']:8.0f} ms   p95 {summary['p95_ms']:8.0f} ms   (target p50 < 3000 ms)")
    print(f"  retrieval    p50 {summary['retrieval_p50_ms']:8.0f} ms")
    print(f"  generation   p50 {summary['generation_p50_ms']:8.0f} ms   (max {args.max_new_tokens} new tokens)")
    print(f"  the rest     p50 {summary['other_p50_ms']:8.0f} ms   (graph, governance, labelling, checkpoints, tracing)")
    print(f"  statuses     {summary['statuses']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
