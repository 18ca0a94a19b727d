"""Orchestration overhead: a whole graph run vs the same task steps called directly.

Runs the report task (retrieval-only mode by default, so model time does not hide the overhead;
``--mode rag`` includes generation) on a few findings texts, many repetitions, and compares:

- direct: the same five agent functions (governance, data, model, task, governance; same tools,
  policy checks, PHI redaction and audit) called in sequence, no LangGraph;
- graph with the in-memory checkpointer and with SQLite (the default), each with tracing off and on.

Configurations alternate every repetition. Per-node overhead = (graph - direct, tracing off) /
nodes visited (6 per run: the planner once, then the 5 agents; before the service-layer change
the planner ran after every agent: 11).
Prints a table and writes benchmarks/results/orchestration.json.

    SAGE_HOME=.sage .venv/bin/python benchmarks/orchestration.py --reps 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from core.settings import Settings
from core.telemetry import configure_tracing

FINDINGS = [
    "The heart is enlarged. Small right pleural effusion.",
    "Lungs are clear. No pneumothorax or effusion. Heart size normal.",
    "Right lower lobe consolidation concerning for pneumonia.",
]
NODES_PER_RUN = 6  # planner once, then governance_pre, data, model, task, governance_post (was 11: planner after every agent)


def direct_run(settings: Settings, task_input: dict) -> None:
    """The same agents (governance, data, model, task, governance) called in sequence, no LangGraph."""
    from langgraph.runtime import Runtime

    from agents.data import data_agent
    from agents.governance import governance_post, governance_pre
    from agents.model import model_agent
    from agents.planner import plan_for_task
    from agents.tasks.base import get_task
    from tools.contract import Context

    spec = get_task("report")
    runtime = Runtime(context=Context(user="bench", role="clinician", purpose="treatment", settings=settings))
    plan = [s.model_dump() for s in plan_for_task(spec).steps]
    state: dict = {"request": {"task": "report", "input": spec.input_model.model_validate(task_input).model_dump(mode="json"), "text": ""}, "run_id": "bench", "thread_id": "bench", "plan": plan, "step": 0}
    from agents.task import task_agent

    for node in (governance_pre, data_agent, model_agent, task_agent, governance_post):
        try:
            update = dict(node(state, runtime).update)
        except RuntimeError as exc:  # interrupt() for review outside a graph: same work, then stop
            assert "runnable context" in str(exc)
            return
        for key in ("tool_calls", "policy_decisions"):
            update[key] = state.get(key, []) + update.get(key, [])
        state.update(update)
    assert state.get("status", "running") in ("running", "done"), state.get("error")


def graph_run(settings: Settings, task_input: dict) -> None:
    from services.base import Caller
    from services.runs import RunRequest, run_task
    from tools.resources import Resources

    caller = Caller(user="bench", role="clinician", purpose="treatment")
    result = run_task(Resources.for_settings(settings), caller, RunRequest(task="report", input=task_input))
    assert result.status in ("done", "review"), result.error


def measure_interleaved(configs: dict, inputs: list[dict], reps: int) -> list[dict]:
    """Median time per configuration; configurations alternate every repetition (a shared,
    loaded machine drifts: interleaving spreads the drift evenly over all of them)."""
    for fn, settings in configs.values():
        fn(settings, inputs[0])  # warm-up: models, stores, task embeddings
    times: dict[str, list[float]] = {label: [] for label in configs}
    for i in range(reps):
        for label, (fn, settings) in configs.items():
            start = time.perf_counter()
            fn(settings, inputs[i % len(inputs)])
            times[label].append((time.perf_counter() - start) * 1000)
    return [{"label": label, "median_ms": statistics.median(t), "mean_ms": statistics.fmean(t), "reps": reps} for label, t in times.items()]


def span_breakdown(settings: Settings, inputs: list[dict], reps: int) -> dict:
    """Within each traced graph run: workflow time minus the time inside the five worker agents.

    Less sensitive to machine load than comparing two separately timed runs: what remains is
    LangGraph scheduling, the planner's routing, and checkpoint writes of this very run.
    """
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    configure_tracing(settings, extra=exporter)
    outside = []
    for i in range(reps):
        exporter.clear()
        graph_run(settings, inputs[i % len(inputs)])
        spans = exporter.get_finished_spans()
        workflow = next(s for s in spans if s.name == "invoke_workflow clinical")
        workers = [s for s in spans if s.name.startswith("invoke_agent") and s.name != "invoke_agent planner"]
        outside.append((workflow.end_time - workflow.start_time - sum(s.end_time - s.start_time for s in workers)) / 1e6)
        inside = sum(s.end_time - s.start_time for s in workers) / 1e6
    framework = statistics.median(outside)
    return {"label": "span breakdown: graph minus agents (sqlite)", "tracing": "on", "median_ms": framework + inside, "framework_ms": framework, "agents_ms": inside, "reps": reps, "per_node_framework_ms": framework / NODES_PER_RUN}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--mode", choices=["retrieval-only", "rag"], default="retrieval-only")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/orchestration.json"))
    args = parser.parse_args()
    base = Settings()
    inputs = [{"findings": f, "mode": args.mode, "max_new_tokens": 24} for f in FINDINGS]

    off = base.model_copy(update={"telemetry_exporter": "none"})
    # Every configuration uses the same opened store, query engine and models (one Qdrant Edge
    # lease, one DuckDB snapshot): only the orchestration differs between them.
    from tools.resources import Resources

    direct_run(off, inputs[0])
    shared = Resources.for_settings(off)
    for variant in (off.model_copy(update={"checkpointer": c}) for c in ("memory", "sqlite")):
        shared.variant(variant)
    shared.variant(base.model_copy(update={"checkpointer": "sqlite"}))
    configs = {
        "direct (same agents, no graph)": (direct_run, off),
        "graph, memory ckpt": (graph_run, off.model_copy(update={"checkpointer": "memory"})),
        "graph, sqlite ckpt": (graph_run, off.model_copy(update={"checkpointer": "sqlite"})),
    }
    rows = []
    for tracing in ("off", "on"):
        if tracing == "on":
            configure_tracing(base)  # spans recorded to the JSON-lines file from here on
        rows += [{**r, "tracing": tracing} for r in measure_interleaved(configs, inputs, args.reps)]
        if tracing == "off":
            rows[0]["baseline"] = True

    rows.append(span_breakdown(base.model_copy(update={"checkpointer": "sqlite"}), inputs, args.reps))
    direct = rows[0]["median_ms"]  # direct, tracing off
    for row in rows:
        row["overhead_ms"] = row["median_ms"] - direct
        row["overhead_pct"] = 100 * row["overhead_ms"] / direct
        row["per_node_ms"] = row["overhead_ms"] / NODES_PER_RUN
    print(f"report task ({args.mode}), {args.reps} reps, median ms")
    breakdown = rows[-1]
    print(f"  in-run span breakdown: framework (LangGraph + planner + sqlite checkpoints) {breakdown['framework_ms']:.1f} ms per run = {breakdown['per_node_framework_ms']:.2f} ms per node; agents {breakdown['agents_ms']:.1f} ms")
    for row in rows[:-1]:
        print(f"  {row['label'] + ', tracing ' + row['tracing']:<46} {row['median_ms']:9.1f}  overhead {row['overhead_ms']:7.1f} ms ({row['overhead_pct']:5.1f} %)  per node {row['per_node_ms']:5.2f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"mode": args.mode, "nodes_per_run": NODES_PER_RUN, "rows": rows, "targets": {"overhead_pct_max": 5, "per_node_ms_max": 3}}, indent=2))


if __name__ == "__main__":
    main()
