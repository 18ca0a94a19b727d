"""``evaluate_agents``: routing accuracy per method and task, trajectories, governance, latency, dialogues.

One call scores, on the same run and the same items:

- routing on the test split of ``evals/data/routing/requests.jsonl`` for three methods (the
  legacy embedding router, the classifier alone, rules + classifier), each with accuracy per
  task and a Wilson interval, a confusion matrix (Markdown, JSON, PNG), must-decline and
  ordinary-declined rates, and latency per decision;
- trajectories of real runs (the routed request run through the clinical graph) against
  reference tool sequences with ``agentevals`` (see :mod:`evals.trajectories`);
- scripted dialogues replayed through real chat threads (see :mod:`evals.dialogues`).

The router is fit on the dev split only. Results go to ``evals/results/agents.json`` and
``agents_confusion.png``; ``sagehealth eval agents`` prints the tables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agents.router import Router, RoutingExample, load_examples
from core.settings import Settings
from evals.routing import Rate, RoutingScore, confusion_table, router_fn, score_routing, wilson
from evals.trajectories import TASK_MODES, TrajectoryScore, clinical_tools, trajectory_match
from tools.resources import Resources

RESULTS = Path(__file__).parent / "results"
_HAS_ID = re.compile(r"\b(patient|pt|case|report|study)\s*#?\s*[A-Za-z]?\d|\bCXR\d|\bP\d", re.IGNORECASE)


class AgentEvalResult(BaseModel):
    """Everything ``sagehealth eval agents`` reports."""

    routing: list[RoutingScore]
    trajectories: list[TrajectoryScore] = Field(default_factory=list)
    trajectory_match: Rate | None = None
    dialogue_turns: list[dict[str, Any]] = Field(default_factory=list)
    dialogue_scores: dict[str, Rate] = Field(default_factory=dict)
    dialogues_replayed: int = 0
    dialogues_total: int = 0
    confusion_markdown: str = ""
    confusion_png: str | None = None
    latency_conditions: dict[str, Any] = Field(default_factory=dict, description="Threads, CPUs and load average while routing was timed.")
    n_dev: int
    n_test: int


def legacy_fn(settings: Settings) -> Any:
    """The old embedding router as a scoring function (out of scope -> decline)."""
    from agents.routing import OutOfScopeError, route_by_embedding

    resources = Resources.for_settings(settings)

    def run(example: RoutingExample) -> tuple[str, list[str], list[str]]:
        try:
            task = route_by_embedding(resources, example.text).task
        except OutOfScopeError:
            task = "decline"
        return task, [task], []

    return run


def score_trajectories(settings: Settings, router: Router, examples: list[RoutingExample], per_task: int = 4) -> list[TrajectoryScore]:
    """Route test requests that need no particular record, run them for real, and match their tool calls."""
    from agents.chat_routing import step_input
    from agents.planner import validate_input
    from agents.router import tools_for
    from agents.tasks.base import get_task
    from services.base import Caller
    from services.runs import RunRequest, run_task

    picked: dict[str, list[RoutingExample]] = {}
    for example in examples:
        if example.task in TASK_MODES and example.task not in ("report", "clarify") and not example.steps and not example.history and not _HAS_ID.search(example.text):
            if len(picked.setdefault(example.task, [])) < per_task:
                picked[example.task].append(example)
    scores: list[TrajectoryScore] = []
    for task, items in sorted(picked.items()):
        for example in items:
            decision = router.route(example.text)
            step = decision.steps[0]
            try:
                data = validate_input(get_task(step.task), step_input(step.task, step.text, decision, {}))
                request = RunRequest(task=step.task, input=data, text=step.text)
                result = run_task(Resources.for_settings(settings), Caller(user="eval-clinician", role="clinician", purpose="treatment"), request)
                tools, status = clinical_tools(result.tool_calls), result.status
            except Exception as exc:  # noqa: BLE001 - a failed run is a scored trajectory, not a crash
                tools, status = [], f"error: {type(exc).__name__}"
            reference = example.tools if example.tools is not None else [t for t in tools_for(task, example.text) if t != "generate_text"]
            mode = TASK_MODES[task]
            scores.append(TrajectoryScore(id=example.id, task=task, mode=mode, tools=tools, reference=reference, match=trajectory_match(tools, reference, mode), status=status))
    return scores


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the embedder
        return None
    return int(torch.get_num_threads())


def _set_torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def confusion_png(score: RoutingScore, path: Path) -> str:
    """Write the confusion matrix as a PNG (matplotlib, Agg backend); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(score.confusion, cmap="Blues")
    ax.set_xticks(range(len(score.labels)), score.labels, rotation=45, ha="right")
    ax.set_yticks(range(len(score.labels)), score.labels)
    for i, row in enumerate(score.confusion):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    ax.set_xlabel("routed")
    ax.set_ylabel("expected")
    ax.set_title(f"{score.method}, {score.split} split: accuracy {score.accuracy.value:.3f} (n={score.accuracy.n})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def evaluate_agents(settings: Settings, *, router: Router | None = None, out_dir: Path | None = RESULTS, trajectories_per_task: int = 4, dialogues: int | None = None, decision_threads: int | None = 1) -> AgentEvalResult:
    """Score routing (three methods), trajectories and dialogues; write JSON and PNG to ``out_dir``.

    Args:
        settings: An ingested installation (trajectories and dialogues run real tasks on it).
        router: A router fit on the dev split; built with :meth:`Router.load` when ``None``.
        out_dir: Where ``agents.json`` and ``agents_confusion.png`` go (``None``: nothing written).
        trajectories_per_task: Real runs per task for the trajectory match (0 skips them).
        dialogues: How many scripted dialogues to replay (``None``: all, 0: none).
        decision_threads: Torch threads while routing is timed (``None``: leave as set). One decision
            embeds one short text; on a shared 2-core machine two intra-op threads wait on each other
            (benchmarks/routing.py measures both), so one thread serves it and leaves the other core free.
    """
    from evals.dialogues import load_dialogues, replay

    router = router or Router.load(Resources.for_settings(settings).embedder)
    dev, test = load_examples(split="dev"), load_examples(split="test")
    classifier_only = Router(router.embedder, router.classifier, min_confidence=router.min_confidence, use_rules=False)
    router.route("warm-up: is aspirin ok with warfarin")  # the first call pays for lazy model set-up, not a decision
    threads_before = _torch_threads()
    _set_torch_threads(decision_threads)
    load_before = os.getloadavg()
    try:
        routing = [
            score_routing("legacy-embedding", legacy_fn(settings), test),
            score_routing("classifier", router_fn(classifier_only), test),
            score_routing("rules+classifier", router_fn(router), test),
        ]
        latency_conditions = {"torch_threads": _torch_threads(), "cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before], "load_average_after": [round(x, 2) for x in os.getloadavg()], "llm": False, "target_ms": 50}
    finally:
        _set_torch_threads(threads_before)
    best = routing[-1]
    trajectories = score_trajectories(settings, router, test, trajectories_per_task) if trajectories_per_task else []
    scripted = load_dialogues()
    chosen = scripted[:dialogues] if dialogues is not None else scripted
    turns = replay(settings, chosen, router) if chosen else []
    dialogue_scores: dict[str, Rate] = {}
    if turns:
        for field in ("route_ok", "evidence_ok", "memory_ok"):
            values = [getattr(t, field) for t in turns if getattr(t, field) is not None]
            dialogue_scores[field] = wilson(sum(values), len(values))
        dialogue_scores["no_leak"] = wilson(sum(not t.leaked for t in turns), len(turns))
        dialogue_scores["route_ok_without_thread"] = wilson(sum(t.baseline_ok for t in turns), len(turns))
        by_dialogue: dict[str, bool] = {}
        for t in turns:
            by_dialogue[t.dialogue] = by_dialogue.get(t.dialogue, True) and t.route_ok and not t.leaked and t.evidence_ok is not False and t.memory_ok is not False
        dialogue_scores["dialogues_all_turns_ok"] = wilson(sum(by_dialogue.values()), len(by_dialogue))
    result = AgentEvalResult(
        routing=routing,
        trajectories=trajectories,
        trajectory_match=wilson(sum(t.match for t in trajectories), len(trajectories)) if trajectories else None,
        dialogue_turns=[t.model_dump() for t in turns],
        dialogue_scores=dialogue_scores,
        dialogues_replayed=len({t.dialogue for t in turns}),
        dialogues_total=len(scripted),
        latency_conditions=latency_conditions,
        confusion_markdown=confusion_table(best),
        n_dev=len(dev),
        n_test=len(test),
    )
    if out_dir is not None:
        result.confusion_png = confusion_png(best, out_dir / "agents_confusion.png")
        (out_dir / "agents.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return result


def summary_lines(result: AgentEvalResult) -> list[str]:
    """The headline figures, one per line, each with n and its interval."""

    def fmt(rate: Rate | None) -> str:
        return "n/a" if rate is None else f"{rate.value:.3f} [{rate.low:.3f}, {rate.high:.3f}] n={rate.n}"

    lines = [f"routing ({r.method}, test): accuracy {fmt(r.accuracy)}; must-decline declined {fmt(r.must_decline_declined)}; ordinary declined {fmt(r.ordinary_declined)}; p50 {r.latency_ms_p50} ms, p95 {r.latency_ms_p95} ms" for r in result.routing]
    c = result.latency_conditions
    if c:
        lines.append(f"latency conditions: no LLM, {c.get('torch_threads')} torch threads on {c.get('cpu_count')} CPUs, load average {c.get('load_average_before')} -> {c.get('load_average_after')} (target < {c.get('target_ms')} ms per decision)")
    lines.append(f"trajectories (agentevals match): {fmt(result.trajectory_match)}")
    lines.append(f"dialogues replayed through real chat threads: {result.dialogues_replayed} of {result.dialogues_total} ({len(result.dialogue_turns)} turns)")
    lines += [f"dialogues {name}: {fmt(rate)}" for name, rate in result.dialogue_scores.items()]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry: evaluate on the installation of ``SAGE_*``, print the headline figures, write evals/results/agents.json."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=4, help="real runs per task for the trajectory match (0: none)")
    parser.add_argument("--dialogues", type=int, default=None, help="scripted dialogues to replay (default: all; 0: none)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the runs (the target machine has 2 CPU cores)")
    parser.add_argument("--decision-threads", type=int, default=1, help="torch threads while routing decisions are timed")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    result = evaluate_agents(Settings(), trajectories_per_task=args.trajectories, dialogues=args.dialogues, decision_threads=args.decision_threads)
    print("\n".join(summary_lines(result)))
    print(result.confusion_markdown)
