"""The co-evolution lift over several noise draws: a property of the loop, or of one draw.

One run of :mod:`evals.feedback` draws one label noise (``--seed``) and reports full minus
static with a paired bootstrap interval over the test cases. That interval covers which test
cases were drafted, not which labels the noise flipped, and the draws differ a lot: the same
configuration gave +0.030, +0.006 and -0.003 on seeds 0, 2 and 3. This script reads the result
files of several draws of one configuration and reports each draw beside their mean, with a
95 % t-interval over the draws (how well the draws pin down the expected lift).

Run::

    python -m evals.feedback_draws evals/results/feedback.json evals/results/feedback_seed*.json \
        --out evals/results/feedback_draws.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

# Two-sided 95 % Student t quantiles by degrees of freedom (draws - 1): no scipy needed for 1-9.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
CONFIG_KEYS = ("cycles", "runs_per_cycle", "noise", "findings", "n_test", "k", "threshold", "max_candidates", "bootstrap_rounds", "draft_mode")


class Draw(BaseModel):
    """One noise draw's final comparison."""

    seed: int
    static: float = Field(description="Static arm's final draft macro F1.")
    full: float = Field(description="Co-evolving arm's final draft macro F1.")
    lift: float = Field(description="full - static.")
    ci: tuple[float, float] = Field(description="Paired bootstrap 95 % interval of the lift over test cases.")
    beyond_interval: bool = Field(description="Whether the interval excludes 0 (the issue's per-run target).")
    file: str


class Draws(BaseModel):
    """Every draw of one configuration and what they say together."""

    config: dict[str, Any]
    draws: list[Draw]
    mean_lift: float
    mean_lift_ci: tuple[float, float] = Field(description="95 % t-interval of the mean over draws.")
    draws_beyond_interval: int


def _final(rows: list[dict[str, Any]]) -> float:
    return float(rows[-1]["macro_f1"])  # the last cycle


def summarize(paths: list[Path]) -> Draws:
    """Read one :mod:`evals.feedback` result per draw; refuse files of different configurations."""
    results = [(p, json.loads(p.read_text())) for p in paths]
    config = {k: results[0][1]["config"].get(k) for k in CONFIG_KEYS}
    for path, data in results:
        other = {k: data["config"].get(k) for k in CONFIG_KEYS}
        if other != config:
            raise SystemExit(f"{path} is another configuration: {other} vs {config}")
    draws = []
    for path, data in results:
        static, full = _final(data["arms"]["static"]), _final(data["arms"]["full"])
        low, high = data["final_full_minus_static_ci"]
        draws.append(Draw(seed=int(data["config"]["seed"]), static=static, full=full, lift=float(data["final_full_minus_static"]), ci=(low, high),
                          beyond_interval=low > 0, file=path.name))
    if len({d.seed for d in draws}) != len(draws):
        raise SystemExit("two files hold the same seed: one draw each")
    lifts = [d.lift for d in draws]
    mean = statistics.fmean(lifts)
    half = T95.get(len(lifts) - 1, 1.96) * statistics.stdev(lifts) / math.sqrt(len(lifts)) if len(lifts) > 1 else float("nan")
    return Draws(config=config, draws=sorted(draws, key=lambda d: d.seed), mean_lift=round(mean, 4), mean_lift_ci=(round(mean - half, 4), round(mean + half, 4)),
                 draws_beyond_interval=sum(d.beyond_interval for d in draws))


def markdown(result: Draws) -> str:
    """One row per draw, then the mean."""
    lines = ["| seed | static | full | full - static | paired 95 % CI | beyond the interval |", "|---|---|---|---|---|---|"]
    for d in result.draws:
        lines.append(f"| {d.seed} | {d.static:.3f} | {d.full:.3f} | {d.lift:+.3f} | {d.ci[0]:+.3f} .. {d.ci[1]:+.3f} | {'yes' if d.beyond_interval else 'no'} |")
    low, high = result.mean_lift_ci
    lines.append(f"| mean of {len(result.draws)} | | | {result.mean_lift:+.3f} | {low:+.3f} .. {high:+.3f} (t, over draws) | "
                 f"{result.draws_beyond_interval} of {len(result.draws)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """CLI: summarize result files, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+", help="evals.feedback result JSON files, one per noise seed")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = summarize(args.files)
    print(markdown(result), end="")
    if args.out is not None:
        args.out.write_text(result.model_dump_json(indent=2) + "\n")


if __name__ == "__main__":
    main()
