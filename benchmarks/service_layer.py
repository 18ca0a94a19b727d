"""The service-layer change, measured against the code before it in one session: orchestration and report latency.

Runs ``benchmarks/orchestration.py`` and ``benchmarks/report_latency.py`` of two checkouts on the
same ``SAGE_HOME``, alternating old and new, and records the load average beside every figure
(a shared 2-core machine drifts). The old checkout is a git worktree of the commit before the
change (``--old``); its report mode ``rag`` is what the new code calls ``rag-lm`` (the model drafts
from retrieved cases), so both time the same work.

    git worktree add /tmp/sage-old <commit-before>
    SAGE_HOME=.sage python benchmarks/service_layer.py --old /tmp/sage-old
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.files import copy_tree

ROOT = Path(__file__).resolve().parents[1]


def _run(tree: Path, home: Path, script: str, args: list[str], out: Path) -> dict:
    env = {**os.environ, "SAGE_HOME": str(home), "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    before = os.getloadavg()
    subprocess.run([sys.executable, str(tree / "benchmarks" / script), *args, "--out", str(out)], cwd=tree, env=env, check=True)
    result = json.loads(out.read_text())
    result["load_average_before"], result["load_average_after"] = list(before), list(os.getloadavg())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="worktree of the commit before the change")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--n", type=int, default=12, help="report runs per checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "service_layer.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sage-bench-"))
    results: dict[str, dict] = {}
    home = Path(os.environ.get("SAGE_HOME", ROOT / ".sage")).resolve()
    old_home = tmp / "old-home"  # the same lakehouse; the old code keeps its own audit log, traces and checkpoints
    copy_tree(home, old_home, ignore=shutil.ignore_patterns("audit*", "traces", "checkpoints.sqlite*", "keys.json"))
    trees = (("old", args.old, old_home), ("new", ROOT, home))
    for name, tree, where in trees:
        results[f"orchestration_{name}"] = _run(tree, where, "orchestration.py", ["--reps", str(args.reps)], tmp / f"orch-{name}.json")
    for name, tree, where in trees:
        extra = ["--mode", "rag-lm"] if name == "new" else []  # the old code's rag is the new rag-lm
        results[f"report_{name}"] = _run(tree, where, "report_latency.py", ["--n", str(args.n), *extra], tmp / f"report-{name}.json")

    def graph_sqlite(r: dict) -> dict:
        return next(row for row in r["rows"] if row["label"].startswith("graph, sqlite") and row["tracing"] == "off")

    old, new = graph_sqlite(results["orchestration_old"]), graph_sqlite(results["orchestration_new"])
    summary = {
        "per_node_ms_old": old["per_node_ms"], "per_node_ms_new": new["per_node_ms"],
        "overhead_ms_old": old["overhead_ms"], "overhead_ms_new": new["overhead_ms"],
        "nodes_per_run_old": results["orchestration_old"]["nodes_per_run"], "nodes_per_run_new": results["orchestration_new"]["nodes_per_run"],
        "report_p50_ms_old": results["report_old"]["p50_ms"], "report_p50_ms_new": results["report_new"]["p50_ms"],
        "report_p50_ratio_new_over_old": results["report_new"]["p50_ms"] / results["report_old"]["p50_ms"],
    }
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, **results}, indent=2))


if __name__ == "__main__":
    main()
