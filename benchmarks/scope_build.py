"""What a per-caller scoped catalog costs: build time per role, and query latency scoped vs. trusted.

A caller's DuckDB catalog is built from the trusted engine's Arrow snapshot (filter, project,
derive ages, coarsen dates, scrub text) when the caller first queries; this measures that build
per role, and the latency of the same queries on the scoped and the trusted engine::

    SAGE_HOME=.sage .venv/bin/python benchmarks/scope_build.py            # 3 rounds
    SAGE_HOME=.sage .venv/bin/python benchmarks/scope_build.py --rounds 5

Uses the lakehouse in ``SAGE_HOME`` (run ``sagehealth ingest`` first). Prints a table and writes
``benchmarks/results/scope_build.json`` with the row counts, the load average before and after,
and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from core.settings import Settings
from lakehouse.query import QueryEngine
from policies.engine import PolicyEngine
from policies.packs import load_pack
from policies.scope import DataScope

CALLERS = [("clinician", "treatment"), ("researcher", "research"), ("data_engineer", "operations")]
QUERIES = [
    "SELECT count(*) FROM patients",
    "SELECT l.finding, count(DISTINCT l.report_id) FROM report_labels l JOIN reports r USING (report_id) WHERE l.state = 'present' GROUP BY l.finding",
    "SELECT p.sex, count(*) FROM patients p JOIN medications m USING (patient_id) WHERE lower(m.drug_name) = 'furosemide' GROUP BY p.sex",
]


def _ms(fn: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--site", default="site-a")
    args = parser.parse_args()
    load_before = os.getloadavg()
    settings = Settings()
    t = time.perf_counter()
    trusted = QueryEngine(settings)
    open_ms = (time.perf_counter() - t) * 1000
    policy = PolicyEngine(load_pack(settings.policy_pack))
    total = trusted.sql("SELECT count(*) FROM reports").rows[0][0]
    rows = []
    for role, purpose in CALLERS:
        scope = DataScope.from_policy(policy, role, purpose, args.site)
        builds = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            scoped = trusted.for_caller(scope)
            builds.append((time.perf_counter() - t) * 1000)
        visible = scoped.sql("SELECT count(*) FROM reports").rows[0][0]
        scoped_q = [_ms(lambda q=q, e=scoped: e.sql(q), args.rounds) for q in QUERIES]
        trusted_q = [_ms(lambda q=q: trusted.sql(q), args.rounds) for q in QUERIES]
        rows.append({"role": role, "purpose": purpose, "site": args.site, "reports_visible": visible, "build_ms_median": round(statistics.median(builds), 1),
                     "build_ms_min": round(min(builds), 1), "query_ms_scoped": [round(x, 2) for x in scoped_q], "query_ms_trusted": [round(x, 2) for x in trusted_q]})
    print(f"lakehouse: {total} reports; trusted engine opened in {open_ms:.0f} ms; rounds={args.rounds}; load avg {load_before[0]:.2f}")
    print(f"{'role':15} {'reports':>8} {'build ms (median)':>18} {'queries scoped ms':>26} {'queries trusted ms':>26}")
    for r in rows:
        print(f"{r['role']:15} {r['reports_visible']:>8} {r['build_ms_median']:>18} {str(r['query_ms_scoped']):>26} {str(r['query_ms_trusted']):>26}")
    out = Path(__file__).parent / "results" / "scope_build.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"reports": total, "trusted_open_ms": round(open_ms, 1), "rounds": args.rounds, "callers": rows, "queries": QUERIES,
                               "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "machine": platform.platform(), "cpus": os.cpu_count()}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
