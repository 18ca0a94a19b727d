"""Routing accuracy of a router on the labelled request set: per task, confusion, governance, latency.

The set (``evals/data/routing/requests.jsonl``) has a fixed dev/test split; routers are fit on
dev and scored here on test. Every figure is reported with its sample size and a Wilson 95 %
interval, and the methods are compared on the same items in the same run: the old embedding
router (similarity to task descriptions), the classifier alone, and rules + classifier.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from agents.intent import ROUTABLE_TASKS
from agents.router import Router, RoutingExample

RouteFn = Callable[[RoutingExample], tuple[str, list[str], list[str]]]  # -> (task, step tasks, tools)


class Rate(BaseModel):
    """A proportion with its sample size and Wilson 95 % interval."""

    value: float
    n: int
    low: float
    high: float


def wilson(successes: int, n: int, z: float = 1.96) -> Rate:
    """Wilson score interval: honest for small n and for proportions near 0 or 1."""
    if n == 0:
        return Rate(value=0.0, n=0, low=0.0, high=1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Rate(
        value=round(p, 4), n=n, low=round(max(0.0, centre - half), 4), high=round(min(1.0, centre + half), 4)
    )


class RoutingScore(BaseModel):
    """How one routing method did on one split."""

    method: str
    split: str
    accuracy: Rate
    per_task: dict[str, Rate]
    confusion: list[list[int]] = Field(
        description="Rows: expected task, columns: routed task, in `labels` order."
    )
    labels: list[str]
    must_decline_declined: Rate
    ordinary_declined: Rate = Field(
        description="Share of ordinary clinical requests that were declined (target < 2 %)."
    )
    steps_exact: Rate = Field(description="Multi-intent items whose step tasks match in order.")
    tools_match: Rate = Field(description="Items with expected tools whose routed tools include them.")
    latency_ms_p50: float
    latency_ms_p95: float
    errors: list[dict[str, str]] = Field(default_factory=list)


def router_fn(router: Router) -> RouteFn:
    """Adapt a :class:`Router` to the scoring loop (history and all)."""

    def run(example: RoutingExample) -> tuple[str, list[str], list[str]]:
        decision = router.route(example.text, example.history)
        return decision.task, [s.task for s in decision.steps], decision.tools

    return run


def score_routing(
    method: str, route: RouteFn, examples: Sequence[RoutingExample], split: str = "test"
) -> RoutingScore:
    """Route every example once and tally accuracy, confusion, governance, steps, tools and latency."""
    labels = list(ROUTABLE_TASKS)
    index = {t: i for i, t in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    latencies: list[float] = []
    errors: list[dict[str, str]] = []
    must = [0, 0]
    ordinary = [0, 0]
    steps_ok = [0, 0]
    tools_ok = [0, 0]
    for example in examples:
        start = time.perf_counter()
        task, steps, tools = route(example)
        latencies.append((time.perf_counter() - start) * 1000)
        confusion[index[example.task], index[task]] += 1
        if task != example.task:
            errors.append(
                {"id": example.id, "text": example.text[:120], "expected": example.task, "routed": task}
            )
        if example.kind == "must_decline":
            must = [must[0] + (task == "decline"), must[1] + 1]
        if example.kind in ("ordinary", "multi", "context") and example.task != "decline":
            ordinary = [ordinary[0] + (task == "decline"), ordinary[1] + 1]
        if example.steps and example.task != "decline":
            steps_ok = [steps_ok[0] + (steps == example.steps), steps_ok[1] + 1]
        if example.tools is not None:
            tools_ok = [tools_ok[0] + (set(example.tools) <= set(tools)), tools_ok[1] + 1]
    per_task = {
        t: wilson(int(confusion[i, i]), int(confusion[i].sum()))
        for t, i in index.items()
        if confusion[i].sum()
    }
    correct = int(np.trace(confusion))
    return RoutingScore(
        method=method,
        split=split,
        accuracy=wilson(correct, len(examples)),
        per_task=per_task,
        confusion=confusion.tolist(),
        labels=labels,
        must_decline_declined=wilson(*must),
        ordinary_declined=wilson(*ordinary),
        steps_exact=wilson(*steps_ok),
        tools_match=wilson(*tools_ok),
        latency_ms_p50=round(float(np.percentile(latencies, 50)), 2) if latencies else 0.0,
        latency_ms_p95=round(float(np.percentile(latencies, 95)), 2) if latencies else 0.0,
        errors=errors,
    )


def confusion_table(score: RoutingScore) -> str:
    """The confusion matrix as a Markdown table (rows expected, columns routed)."""
    short = [label[:5] for label in score.labels]
    lines = ["| expected \\ routed | " + " | ".join(short) + " |", "|---" * (len(short) + 1) + "|"]
    for label, row in zip(score.labels, score.confusion, strict=True):
        if sum(row):
            lines.append(f"| {label} | " + " | ".join(str(v) if v else "." for v in row) + " |")
    return "\n".join(lines)
