"""Server memory under sustained chat: does ``sagehealth serve`` level off or keep growing?

    SAGE_HOME=.sage .venv/bin/python -m benchmarks.api_memory --clients 8 --duration 300

``--clients`` keep-alive httpx clients send short chat turns (each on a new thread, as
``benchmarks/api_load.py`` does) to a real ``sagehealth serve`` for ``--duration`` seconds; the
server's RSS is sampled every ``--every`` seconds. The server keeps the events of its most
recent 1,000 finished jobs (``app.http.jobs.JobManager``), so memory is expected to grow until
that many turns are done and then stay flat; growth that continues past that point is a leak.

Reports the RSS per sample, the growth per 100 turns from turn 100 (the models are loaded by
then) to turn 1,000, and after turn 1,100,
and the load average, and writes ``benchmarks/results/api_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (`python benchmarks/api_memory.py`): import the sibling module from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.api_load import CHAT, rss_mb, serve  # noqa: E402
from core.settings import Settings

KEPT_JOBS = 1000
WARM_TURNS = 100
"""Turns before the first window starts: the first turns load the models (about 1 GiB)."""


def growth_per_100(samples: list[dict[str, float]], start: int, end: int | None) -> float | None:
    """RSS growth (MiB) per 100 turns between the first samples at or past ``start`` turns and ``end`` (None: the last)."""
    inside = [s for s in samples if s["turns"] >= start and (end is None or s["turns"] <= end)]
    if len(inside) < 2 or inside[-1]["turns"] == inside[0]["turns"]:
        return None
    return round(100 * (inside[-1]["rss_mb"] - inside[0]["rss_mb"]) / (inside[-1]["turns"] - inside[0]["turns"]), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=300.0, help="Seconds of chat turns.")
    parser.add_argument("--every", type=float, default=10.0, help="Seconds between RSS samples.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/api_memory.json"))
    args = parser.parse_args()
    settings = Settings()
    load_before = os.getloadavg()
    turns, errors = [0], [0]
    samples: list[dict[str, float]] = []
    with serve(settings) as (base, key, pid):
        stop = time.monotonic() + args.duration

        def client(c: int) -> None:
            with httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=120) as http:
                i = 0
                while time.monotonic() < stop:
                    reply = http.post("/api/chat", json={"message": CHAT[(c + i) % len(CHAT)], "stream": False})
                    turns[0] += 1
                    errors[0] += reply.status_code != 200 or reply.json().get("status") != "done"
                    i += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        began = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            samples.append({"seconds": round(time.monotonic() - began, 1), "turns": turns[0], "rss_mb": rss_mb(pid)})
            print(f"{samples[-1]['seconds']:7.1f} s  {samples[-1]['turns']:6d} turns  RSS {samples[-1]['rss_mb']:8.1f} MiB", flush=True)
            time.sleep(args.every)
        samples.append({"seconds": round(time.monotonic() - began, 1), "turns": turns[0], "rss_mb": rss_mb(pid)})
    report: dict[str, Any] = {
        "clients": args.clients, "duration_s": args.duration, "turns": turns[0], "errors": errors[0], "kept_jobs": KEPT_JOBS,
        "growth_per_100_turns_mb": {"warm_to_1000": growth_per_100(samples, WARM_TURNS, KEPT_JOBS), "after_1000": growth_per_100(samples, KEPT_JOBS + 100, None)},
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(), "samples": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{turns[0]} turns, {errors[0]} errors; RSS growth per 100 turns: {report['growth_per_100_turns_mb']}; load avg {report['load_avg_before']} -> {report['load_avg_after']}")


if __name__ == "__main__":
    main()
