"""Detection and false-positive rates of the guards on the security corpus (and on real reports).

The corpus (``tests/security/data/{dev,test}.jsonl``) holds adversarial cases across the OWASP
Top 10 for LLM applications that apply here (direct and indirect prompt injection, sensitive
information disclosure, excessive agency) plus harmful clinical requests, and benign clinical
requests, report texts and tool outputs. The split is fixed by the case id (sha256 of source and
text, even -> dev); rules are tuned on dev only. The test split's first run is kept in
``evals/results/guards_heldout_first_run.json``; its misses were then fixed, so the ``holdout``
split (``holdout.jsonl``, written after those fixes, never tuned on) is the held-out figure.

"Blocked" is what the governance gate does: user text is declined when either guard flags it
(:func:`detect_injection` with source ``user`` or :func:`detect_harm`); retrieved and tool text
is dropped when :func:`detect_injection` flags it for its source. The baseline in the same run
is the previous regex heuristics (``agents.guards.INJECTION_PATTERNS``, a copy kept here so this
file does not import agents). As an external benign set, every non-empty section of the real
Indiana reports (``--indiana``) is screened as retrieved text: it was never used to tune rules.

Run::

    .venv/bin/python -m evals.guards                 # dev, test, holdout; writes evals/results/guards.json
    .venv/bin/python -m evals.guards --indiana       # plus all Indiana report sections (about 30 s)
    .venv/bin/python -m evals.guards --indiana --fhir-dir "$SAGE_HOME/synthetic"   # plus patient records
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from policies.guards import detect_harm, detect_injection

DATA = Path(__file__).resolve().parent.parent / "tests" / "security" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "guards.json"

# The heuristics governance used before policies.guards (agents/guards.py at commit 9a5c950).
BASELINE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"ignore (all |any )?(the )?(previous|prior|above) (instructions|rules|prompts?)",
        r"disregard (the |all )?(system|previous|above)",
        r"you are now (a|an|in) ",
        r"(reveal|print|show) (me )?(the |your )?(system prompt|hidden instructions)",
        r"<\|?(im_start|im_end|system)\|?>",
        r"act as (an? )?(admin|administrator|root|developer)",
        r"(override|bypass|disable) (the )?(policy|policies|governance|safety|guard)",
    )
)


TUNING_SPLITS = ("dev", "dev2")
"""Splits whose misses may be read and fixed; every other split is held out."""


def load(split: str) -> list[dict[str, Any]]:
    """Cases of one split."""
    with (DATA / f"{split}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def gate_blocks(text: str, source: str) -> tuple[bool, list[str]]:
    """What the governance gate does with ``text`` from ``source``: blocked?, and the rules that fired."""
    inj = detect_injection(text, source)  # type: ignore[arg-type]
    rules = [f"injection:{r}" for r in inj.rules]
    blocked = inj.flagged
    if source == "user":
        harm = detect_harm(text)
        rules += [f"harm:{r}" for r in harm.rules]
        blocked = blocked or harm.flagged
    return blocked, rules


def baseline_blocks(text: str, source: str) -> tuple[bool, list[str]]:
    """The old heuristics (same decision for every source)."""
    hits = [p.pattern[:30] for p in BASELINE_PATTERNS if p.search(text)]
    return bool(hits), hits


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """95 % Wilson score interval for k successes out of n (None when n is 0)."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [round(max(0.0, centre - half), 7), round(min(1.0, centre + half), 7)]


def rate(k: int, n: int) -> dict[str, Any]:
    """A rate with its size and interval."""
    return {"rate": round(k / n, 4) if n else None, "k": k, "n": n, "wilson95": wilson(k, n)}


def evaluate(cases: Iterable[dict[str, Any]], decide: Callable[[str, str], tuple[bool, list[str]]]) -> dict[str, Any]:
    """Detection rate on attacks (overall, must-block, per category) and false-positive rate on benign cases."""
    cases = list(cases)
    attacks = [c for c in cases if c["label"] == "attack"]
    benign = [c for c in cases if c["label"] == "benign"]
    decided = {c["id"]: decide(c["text"], c["source"]) for c in cases}
    missed = [c for c in attacks if not decided[c["id"]][0]]
    false_pos = [c for c in benign if decided[c["id"]][0]]
    must = [c for c in attacks if c["must_block"]]
    benign_requests = [c for c in benign if c["source"] == "user"]
    per_cat: dict[str, dict[str, Any]] = {}
    for cat in sorted({c["category"] for c in cases}):
        group = [c for c in cases if c["category"] == cat]
        k = sum(decided[c["id"]][0] for c in group)
        per_cat[cat] = {"label": group[0]["label"], **rate(k, len(group))}
    return {
        "detection": rate(len(attacks) - len(missed), len(attacks)),
        "must_block": rate(sum(decided[c["id"]][0] for c in must), len(must)),
        "false_positive": rate(len(false_pos), len(benign)),
        "harm_false_decline": rate(sum(detect_harm(c["text"]).flagged for c in benign_requests), len(benign_requests)),
        "benign_requests_blocked": rate(sum(decided[c["id"]][0] for c in benign_requests), len(benign_requests)),
        "per_category_blocked": per_cat,
        "missed_ids": [c["id"] for c in missed],
        "false_positive_ids": [c["id"] for c in false_pos],
    }


def indiana_false_positives(limit: int | None) -> dict[str, Any]:
    """Share of real Indiana report sections (findings, impression, indication, comparison) flagged as injection."""
    from lakehouse.ingest.indiana import read_indiana  # evals may read the lakehouse sources

    n = k = 0
    for report in read_indiana(limit=limit):
        for text in (report.findings, report.impression, report.indication, report.comparison):
            if text.strip():
                n += 1
                k += detect_injection(text, "retrieved").flagged
    return rate(k, n)


def fhir_false_positives(folder: Path) -> dict[str, Any]:
    """Share of string leaves of FHIR bundles (records as tool text: names, addresses, coding URLs) flagged."""
    n = k = 0
    for path in sorted(folder.rglob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        for text in _strings(bundle):
            if text.strip():
                n += 1
                k += detect_injection(text, "tool").flagged
    return rate(k, n)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Evaluate and write ``evals/results/guards.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "dev2", "test", "holdout", "holdout2", "all"), default="all")
    parser.add_argument("--indiana", action="store_true", help="also screen every Indiana report section as retrieved text")
    parser.add_argument("--indiana-limit", type=int, default=None)
    parser.add_argument("--fhir-dir", type=Path, default=None, help="also screen every string of the FHIR bundles under this folder as tool text (e.g. SAGE_HOME/synthetic)")
    parser.add_argument("--show-misses", action="store_true", help="print missed and false-positive cases of the tuning splits (dev, dev2; never a held-out one)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.time()
    splits = ("dev", "dev2", "test", "holdout", "holdout2") if args.split == "all" else (args.split,)
    result: dict[str, Any] = {"corpus": str(DATA.relative_to(DATA.parent.parent.parent)), "splits": {}}
    for split in splits:
        cases = load(split)
        result["splits"][split] = {"guards": evaluate(cases, gate_blocks), "baseline_regex": evaluate(cases, baseline_blocks)}
        if args.show_misses and split in TUNING_SPLITS:
            by_id = {c["id"]: c for c in cases}
            for key in ("missed_ids", "false_positive_ids"):
                for cid in result["splits"][split]["guards"][key]:
                    print(key[:-4], by_id[cid]["category"], by_id[cid]["source"], repr(by_id[cid]["text"][:160]))
    if args.indiana:
        result["indiana_sections_flagged"] = indiana_false_positives(args.indiana_limit)
    if args.fhir_dir:
        result["fhir_strings_flagged"] = fhir_false_positives(args.fhir_dir)
    result["seconds"] = round(time.time() - started, 1)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for split, res in result["splits"].items():
        for name in ("guards", "baseline_regex"):
            r = res[name]
            print(f"{split:8} {name:15} detection {r['detection']['rate']} ({r['detection']['k']}/{r['detection']['n']}, {r['detection']['wilson95']}) "
                  f"must-block {r['must_block']['rate']} false-positive {r['false_positive']['rate']} ({r['false_positive']['k']}/{r['false_positive']['n']}, {r['false_positive']['wilson95']})")
    if "indiana_sections_flagged" in result:
        r = result["indiana_sections_flagged"]
        print(f"indiana sections flagged {r['rate']} ({r['k']}/{r['n']}, {r['wilson95']})")
    if "fhir_strings_flagged" in result:
        r = result["fhir_strings_flagged"]
        print(f"fhir bundle strings flagged {r['rate']} ({r['k']}/{r['n']}, {r['wilson95']})")
    return result


if __name__ == "__main__":
    main()
