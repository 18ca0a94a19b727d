"""``sagehealth trace RUN_ID [--json]``: the tree of agent decisions, tool calls and model calls.

Example::

    sagehealth trace run-3f2a9c0d1b2e
"""

from __future__ import annotations

import typer

from app.common import JsonOpt, console, emit, fail, load_settings
from core.errors import SageError


def register(app: typer.Typer) -> None:
    """Add ``trace``."""

    @app.command("trace")
    def trace_cmd(run_id: str = typer.Argument(..., help="Run id printed by `sagehealth run`."), as_json: bool = JsonOpt) -> None:
        """Print one run's spans as a tree with durations, routes and policy effects (--json: the spans)."""
        from graphs.telemetry import build_tree, render_tree, run_spans

        settings = load_settings()
        try:
            spans = run_spans(settings.traces_path, run_id)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(spans, as_json, lambda s: console.print(render_tree(run_id, build_tree(s))))
