"""Cost of the keyed audit chain: appends per second and verification time, against the v1 chain.

The keyed log does more per append than the v1 SHA-256 chain: an HMAC, a redaction pass over the
details and a signed head record rewritten after each entry. This measures what that costs on
the same events, in the same run, alternating the two logs in rounds so that load from other
processes hits both alike::

    .venv/bin/python benchmarks/audit_chain.py               # 500 events x 3 rounds
    .venv/bin/python benchmarks/audit_chain.py --events 2000 --rounds 5

Both logs fsync every append (the durability the audit log promises), so figures depend on the
disk. Prints a table and writes ``benchmarks/results/audit_chain.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from policies.audit import GENESIS, AuditEvent, AuditLog
from policies.audit_chain import canonical
from policies.audit_legacy import verify_legacy


class V1Log:
    """The previous unkeyed chain's append (SHA-256, fsync, no head record), for the baseline."""

    def __init__(self, path: Path) -> None:
        self.path, self.seq, self.prev = path, -1, GENESIS

    def append(self, event: AuditEvent) -> None:
        body = {**event.model_dump(mode="json"), "seq": self.seq + 1, "time": "t", "prev_hash": self.prev}
        digest = hashlib.sha256((self.prev + canonical(body)).encode()).hexdigest()
        with open(self.path, "ab") as fh:
            fh.write((canonical(body | {"hash": digest}) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        self.seq, self.prev = self.seq + 1, digest


def events(n: int) -> list[AuditEvent]:
    return [
        AuditEvent(actor="dr-a", action="tool:query_records", resource="query_records", decision="ok", run_id=f"run-{i % 7}",
                   details={"role": "clinician", "purpose": "treatment", "ids": [f"CXR{i}", f"CXR{i + 1}"], "ms": 1.5, "sql": "SELECT findings FROM reports WHERE report_id = 'CXR1'"})
        for i in range(n)
    ]


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batch = events(args.events)
    rows: dict[str, list[float]] = {"v1_append_per_s": [], "keyed_append_per_s": [], "v1_verify_s": [], "keyed_verify_s": []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key" / "audit.key"
        for r in range(args.rounds):
            v1, keyed = V1Log(Path(tmp) / f"v1-{r}.jsonl"), AuditLog(Path(tmp) / f"log-{r}" / "audit.jsonl", key_file=key_file)
            order = [("v1", v1), ("keyed", keyed)] if r % 2 == 0 else [("keyed", keyed), ("v1", v1)]
            for name, log in order:
                seconds = timed(lambda log=log: [log.append(e) for e in batch])
                rows[f"{name}_append_per_s"].append(args.events / seconds)
            rows["v1_verify_s"].append(timed(lambda v1=v1: verify_legacy(v1.path)))
            start = time.perf_counter()
            result = keyed.verify()
            rows["keyed_verify_s"].append(time.perf_counter() - start)
            assert result.ok and result.entries == args.events
    summary = {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in rows.items()}
    out = {
        "events": args.events, "rounds": args.rounds, "summary": summary, "raw": rows,
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    print(f"{'metric':<22}{'median':>12}{'min':>12}{'max':>12}")
    for k, v in summary.items():
        print(f"{k:<22}{v['median']:>12.3f}{v['min']:>12.3f}{v['max']:>12.3f}")
    print(f"events={args.events} rounds={args.rounds} loadavg before={load_before[0]:.2f} after={out['loadavg_after'][0]:.2f}")
    path = Path(__file__).parent / "results" / "audit_chain.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
