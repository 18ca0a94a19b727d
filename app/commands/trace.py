"""``sagehealth trace RUN_ID [--json]``: the tree of agent decisions, tool calls and model calls.

Example::

    sagehealth trace run-3f2a9c0d1b2e
"""

from __future__ import annotations

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError


def register(app: typer.Typer) -> None:
    """Add ``trace``."""

    @app.command("trace")
    def trace_cmd(run_id: str = typer.Argument(..., help="Run id printed by `sagehealth run`."), as_json: bool = JsonOpt,
                  user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Print one run's spans as a tree with durations, routes and policy effects (--json: the spans)."""
        from app.tracetree import build_tree, render_tree
        from services.runs import trace

        resources = open_resources()
        try:
            spans = trace(resources, who(resources, user, role, purpose), run_id)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(spans, as_json, lambda s: console.print(render_tree(run_id, build_tree(s))))
