"""``sagehealth eval NAME [OPTIONS]``: the project's measured figures, one evaluation each.

Each name runs ``evals/<module>.py`` (also runnable as ``python -m evals.<module>``), which
prints its table and writes ``evals/results/<name>.json``; ``--help`` after the name lists its
options. Examples::

    sagehealth eval feedback --cycles 5 --runs 20
    sagehealth eval agents
    sagehealth eval deid
    sagehealth eval guards --split test
    sagehealth eval report --modes rag --append
"""

from __future__ import annotations

import importlib
import inspect

import typer

from app.common import fail
from core.errors import SageError

EVALUATIONS = {
    "feedback": ("evals.feedback", "co-evolution over feedback cycles: label accuracy, propagation precision/recall, draft macro F1"),
    "agents": ("evals.agents", "routing accuracy (confusion matrix), trajectories, governance decisions, dialogues"),
    "deid": ("evals.deid", "de-identification recall per identifier type, clinical content kept, vs plain Presidio"),
    "guards": ("evals.guards", "injection and harm detection rates and false positives"),
    "report": ("evals.report", "report quality on the test split: ROUGE-L, BLEU-4, label F1, MeSH agreement, intervals"),
    "retrieval": ("evals.retrieval", "precision@k and nDCG@k of dense, label-aware, BM25, fusion and random retrieval"),
    "labeler": ("evals.labeler_agreement", "the labeler against the Indiana MeSH codes, per split"),
}


def register(app: typer.Typer) -> None:
    """Add ``eval``."""

    @app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def eval_cmd(ctx: typer.Context, name: str = typer.Argument(..., help=f"One of: {', '.join(EVALUATIONS)}.")) -> None:
        """Run one evaluation; options after the name go to it (e.g. `sagehealth eval feedback --cycles 3`)."""
        if name not in EVALUATIONS:
            fail(SageError(f"unknown evaluation {name!r}", hint=f"one of: {', '.join(f'{n} ({d})' for n, (_, d) in EVALUATIONS.items())}"))
        module_name = EVALUATIONS[name][0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            fail(SageError(f"evaluation {name!r} is not available here ({exc.name})", hint="install the project with its dev extras"))
            return
        args = list(ctx.args)
        takes_args = bool(inspect.signature(module.main).parameters)
        if args and not takes_args:
            fail(SageError(f"evaluation {name!r} takes no options", hint=f"sagehealth eval {name}"))
        module.main(args) if takes_args else module.main()
