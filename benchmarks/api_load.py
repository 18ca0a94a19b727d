"""The HTTP API under load: 8 concurrent clients in a second process vs the in-process service call, same run.

    SAGE_HOME=.sage .venv/bin/python -m benchmarks.api_load --clients 8 --duration 60

Two workloads, each first in-process and then over HTTP:

* **search**: ``services.data.search`` (embed, Qdrant Edge search, policy check, audit, span)
  vs ``POST /api/search`` with the same texts (plus, in-process, one caller alone for up to
  10 s: the call's own latency without contention);
* **short chat turns**: ``services.chat.turn`` on a new thread per turn with a question the
  planner routes to the drug-interaction task (no generative model call) vs ``POST /api/chat``
  with ``stream: false``.

The in-process phase runs ``--clients`` threads over one ``Resources`` for
``--baseline-duration`` seconds per workload. It then closes (the Qdrant Edge shard is leased
to one process at a time) and the real ``sagehealth serve`` starts as a child process on
127.0.0.1; this process then drives it with ``--clients`` threads (one httpx client each,
keep-alive) for ``--duration`` seconds per workload. The server keeps its default job
concurrency (2), so chat turns beyond it wait in its queue, as they would in production.
Both sides are warmed up (model loads, shard lease) before timing.

``--queries short`` (the default) cycles through five short findings texts; ``--queries
findings`` uses the FINDINGS of the first 200 test-split reports instead (longer, all distinct:
nothing a cache or a shared embedding pass could reuse between callers). ``--workloads search``
skips the chat turns.

Reports throughput, p50/p95/p99/mean latency and errors per path, the server's RSS at the start
(after warm-up), between the workloads and at the end (``benchmarks/api_memory.py`` follows it
over a longer run), the load average before and after, and
writes ``benchmarks/results/api_load.json``. Target: p95 search <= 50 ms over HTTP, 0 errors,
flat server memory.

It also reports the CPU each search costs (the server's and the callers', from ``/proc`` and
``os.times``) and what that cost allows on this machine: the most searches per second every
core could serve, the mean latency Little's law then gives ``--clients`` callers, and the cores
the same cost would need for a 50 ms mean. A p95 target below that floor cannot be met by
scheduling, only by cheaper searches or more cores. The key the benchmark mints is revoked at
the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from services import chat, data
from services.base import Caller
from services.keys import KeyStore, store_for
from tools.resources import Resources

QUERIES = [
    "Heart size is enlarged. Small left pleural effusion.",
    "The lungs are clear. No pneumothorax or pleural effusion.",
    "Right lower lobe airspace opacity concerning for pneumonia.",
    "Hyperinflated lungs with flattened diaphragms. No acute infiltrate.",
    "Mild pulmonary vascular congestion with cardiomegaly.",
]
CHAT = ["is aspirin safe with warfarin?", "is ibuprofen safe with warfarin?", "can clarithromycin be given with simvastatin?"]
CALLER = {"user": "bench-load", "role": "clinician", "purpose": "treatment"}
TARGET_P95_SEARCH_MS = 50.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system, all threads) of this process, or of ``pid`` from ``/proc``."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def drive(clients: int, duration: float, call: Callable[[int, int], None], server_pid: int | None = None) -> dict[str, Any]:
    """``clients`` threads calling ``call(client, i)`` until ``duration`` passes; latencies, errors and CPU cost.

    CPU per request is this process's (the callers, or the whole service in-process) and, over
    HTTP, the server's: with the machine's cores it bounds the throughput any scheduling could
    reach, which is what turns a latency target into a core count (see :func:`capacity`).
    """
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[Counter[str]] = [Counter() for _ in range(clients)]
    stop = time.monotonic() + duration

    def worker(client: int) -> None:
        i = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                call(client, i)
                latencies[client].append((time.perf_counter() - started) * 1000)
            except Exception as exc:  # counted, never fatal: the run reports its errors
                errors[client][f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            i += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    cpu_before = (cpu_seconds(), cpu_seconds(server_pid) if server_pid else 0.0)
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    own_cpu, server_cpu = cpu_seconds() - cpu_before[0], (cpu_seconds(server_pid) - cpu_before[1]) if server_pid else None
    flat = [x for per in latencies for x in per]
    error_counts = sum(errors, Counter())

    def per_request(seconds: float) -> float:
        return round(1000 * seconds / max(1, len(flat)), 2)

    own = "caller" if server_pid else "process"
    cpu = {f"{own}_ms_per_request": per_request(own_cpu), f"{own}_cores": round(own_cpu / elapsed, 2)}
    if server_cpu is not None:
        cpu |= {"server_ms_per_request": per_request(server_cpu), "server_cores": round(server_cpu / elapsed, 2)}
    return {"n": len(flat), "seconds": round(elapsed, 2), "throughput_per_s": round(len(flat) / elapsed, 2),
            "p50_ms": round(pct(flat, 0.5), 2), "p95_ms": round(pct(flat, 0.95), 2), "p99_ms": round(pct(flat, 0.99), 2),
            "mean_ms": round(statistics.fmean(flat), 2) if flat else None, "errors": sum(error_counts.values()), "error_kinds": dict(error_counts),
            "cpu": cpu}


def capacity(found: dict[str, Any], clients: int, cores: int) -> dict[str, float]:
    """What the measured CPU cost per request allows on ``cores`` cores, whatever the scheduling.

    ``max_throughput_per_s``: every core busy on this workload (server and callers together).
    ``mean_latency_floor_ms``: Little's law for ``clients`` closed-loop callers at that
    throughput; a p95 cannot be below the mean. ``cores_for_target``: the cores the same CPU
    cost per request would need for a mean of ``TARGET_P95_SEARCH_MS`` under ``clients`` callers
    (a lower bound: it assumes no queueing spread, so the p95 equals the mean).
    """
    cost_ms = sum(v for k, v in found["cpu"].items() if k.endswith("_ms_per_request"))
    ceiling = 1000 * cores / cost_ms
    return {"cpu_ms_per_request": round(cost_ms, 2), "max_throughput_per_s": round(ceiling, 1), "mean_latency_floor_ms": round(1000 * clients / ceiling, 1),
            "cores_for_target": round(clients * cost_ms / TARGET_P95_SEARCH_MS, 1)}


def findings_queries(settings: Settings, n: int = 200) -> list[str]:
    """The FINDINGS of the first ``n`` test-split reports (realistic, distinct search texts)."""
    from evals.report_quality import test_cases
    from lakehouse.semantic import open_store

    texts = [c["findings"] for c in test_cases(settings, n)]
    open_store(settings).close()  # hand the shard back: the phases below open it again
    return texts


def in_process(settings: Settings, clients: int, duration: float, queries: list[str], workloads: set[str]) -> dict[str, Any]:
    """The same calls straight into the services, from ``clients`` threads over one Resources."""
    resources = Resources.for_settings(settings)
    caller = Caller(**CALLER)
    try:
        def search(client: int, i: int) -> None:
            data.search(resources, caller, data.SearchRequest(text=queries[(client * 7 + i) % len(queries)], k=5))

        def turn(client: int, i: int) -> None:
            reply = chat.turn(resources, caller, chat.ChatRequest(thread_id=f"load-ip-{os.getpid()}-{client}-{i}-{time.monotonic_ns()}", message=CHAT[i % len(CHAT)]))
            if reply.status != "done":
                raise RuntimeError(f"chat turn {reply.status}")

        search(0, 0)  # warm-up: embedder, shard lease, planner
        turn(0, 0)
        engine = str(getattr(resources.embedder, "engine", "torch"))
        alone = drive(1, min(duration, 10.0), search)  # one caller, no concurrency: the call's own latency
        found = {"embed_engine": engine, "search_1_client": alone, "search": drive(clients, duration, search)}
        if "chat" in workloads:
            found["chat"] = drive(clients, duration, turn)
        return found
    finally:
        resources.close()


def http_stack() -> dict[str, str]:
    """The event loop and HTTP parser uvicorn picks (``auto``: uvloop and httptools when installed)."""
    return {"loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio", "http": "httptools" if importlib.util.find_spec("httptools") else "h11"}


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(settings: Settings) -> Iterator[tuple[str, str, int]]:
    """A real ``sagehealth serve`` on 127.0.0.1 as a child process: (base URL, API key, pid).

    The key is minted for :data:`CALLER` and revoked on exit, when the server is stopped too;
    its log is ``SAGE_HOME/api_load.serve.log``.
    """
    resources = Resources.for_settings(settings)
    minted = store_for(resources).create(CALLER["user"], CALLER["role"], CALLER["purpose"])
    resources.close()
    port = free_port()
    log = (settings.home / "api_load.serve.log").open("wb")
    env = {**os.environ, "SAGE_HOME": str(settings.home)}
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise SystemExit(f"sagehealth serve exited {server.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("sagehealth serve did not answer in 180 s")
            time.sleep(0.3)
        yield base, minted.secret, server.pid
    finally:
        KeyStore(settings.home / "keys.json").revoke(minted.id)  # the benchmark's key never outlives it
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def over_http(settings: Settings, clients: int, duration: float, queries: list[str], workloads: set[str]) -> dict[str, Any]:
    """``sagehealth serve`` as a child process, driven from this one by ``clients`` keep-alive httpx clients."""
    with serve(settings) as (base, key, pid):
        sessions = [httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=120) for _ in range(clients)]
        try:
            def search(client: int, i: int) -> None:
                response = sessions[client].post("/api/search", json={"text": queries[(client * 7 + i) % len(queries)], "k": 5})
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}")

            def turn(client: int, i: int) -> None:
                response = sessions[client].post("/api/chat", json={"message": CHAT[i % len(CHAT)], "stream": False})
                if response.status_code != 200 or response.json().get("status") != "done":
                    raise RuntimeError(f"HTTP {response.status_code} {response.json().get('status') if response.status_code == 200 else ''}")

            search(0, 0)  # warm-up, as in-process
            turn(0, 0)
            memory = {"start": rss_mb(pid)}
            results = {"search": drive(clients, duration, search, pid)}
            memory["after_search"] = rss_mb(pid)
            if "chat" in workloads:
                results["chat"] = drive(clients, duration, turn, pid)
            memory["end"] = rss_mb(pid)
            return {**results, "server_rss_mb": memory}
        finally:
            for session in sessions:
                session.close()


def found_cpu(report: dict[str, Any], path: str) -> str:
    """The CPU split of a path's search phase, as ``(server 9.1 ms on 1.3 cores, callers ...)``."""
    cpu = (report["in_process"] if path == "in_process" else report["http"])["search"]["cpu"]
    parts = [f"{who} {cpu[f'{who}_ms_per_request']} ms on {cpu[f'{who}_cores']} cores" for who in ("process", "server", "caller") if f"{who}_ms_per_request" in cpu]
    return "(" + ", ".join(parts) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds per workload over HTTP.")
    parser.add_argument("--baseline-duration", type=float, default=30.0, help="Seconds per workload in-process.")
    parser.add_argument("--queries", choices=("short", "findings"), default="short", help="Five short texts, or 200 distinct test-split FINDINGS.")
    parser.add_argument("--workloads", default="search,chat", help="Comma-separated: search, chat.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/api_load.json"))
    args = parser.parse_args()
    workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    if not workloads <= {"search", "chat"} or "search" not in workloads:
        parser.error("--workloads takes search and optionally chat")
    settings = Settings()
    queries = QUERIES if args.queries == "short" else findings_queries(settings)
    load_before = os.getloadavg()
    baseline = in_process(settings, args.clients, args.baseline_duration, queries, workloads)
    load_mid = os.getloadavg()
    http = over_http(settings, args.clients, args.duration, queries, workloads)
    report = {
        "queries": args.queries, "distinct_queries": len(set(queries)), "workloads": sorted(workloads), "clients": args.clients, "duration_s": args.duration, "baseline_duration_s": args.baseline_duration, "home": str(settings.home),
        "cpus": os.cpu_count(), "python": platform.python_version(), "server_job_concurrency": settings.api_concurrency,
        "embed_engine": baseline.pop("embed_engine"), "http_stack": http_stack(),
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_between": [round(x, 2) for x in load_mid],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()], "target_p95_search_ms": TARGET_P95_SEARCH_MS,
        "in_process": baseline, "http": http,
        "capacity": {"in_process": capacity(baseline["search"], args.clients, os.cpu_count() or 1), "http": capacity(http["search"], args.clients, os.cpu_count() or 1)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for workload in sorted(workloads, reverse=True):
        for path, found in (("in-process", baseline[workload]), ("http", http[workload])):
            print(f"{workload:<6} {path:<10} n={found['n']:<6} {found['throughput_per_s']:8.2f}/s  p50 {found['p50_ms']:8.2f}  p95 {found['p95_ms']:8.2f}  "
                  f"p99 {found['p99_ms']:8.2f} ms  errors {found['errors']}")
    alone = baseline["search_1_client"]
    print(f"search in-process, 1 client: n={alone['n']} p50 {alone['p50_ms']} ms p95 {alone['p95_ms']} ms")
    verdict = "met" if http["search"]["p95_ms"] <= TARGET_P95_SEARCH_MS else "NOT met"
    print(f"p95 search over HTTP {http['search']['p95_ms']} ms: target <= {TARGET_P95_SEARCH_MS} ms {verdict}; server RSS MiB {http['server_rss_mb']}")
    for path, bound in report["capacity"].items():
        print(f"search {path:<10} CPU {bound['cpu_ms_per_request']} ms/request {found_cpu(report, path)}: at most {bound['max_throughput_per_s']}/s on {report['cpus']} cores, "
              f"mean latency >= {bound['mean_latency_floor_ms']} ms for {args.clients} clients; a {TARGET_P95_SEARCH_MS:.0f} ms mean needs >= {bound['cores_for_target']} cores")
    print(f"embedder engine {report['embed_engine']}, HTTP stack {report['http_stack']}")
    print(f"load avg {report['load_avg_before']} -> {report['load_avg_between']} -> {report['load_avg_after']}")


if __name__ == "__main__":
    main()
