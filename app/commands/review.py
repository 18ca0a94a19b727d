"""``sagehealth review list|show|approve|edit|reject``: the human in the loop.

Runs whose post-check asked for review (weak evidence, ungrounded citations, uncertain
findings, policy) wait on their thread; a reviewer decides and the run resumes from its
checkpoint. Every subcommand is governed: the pack must grant the caller's role the ``review``
action (``graphs.review``), and each check is audited. Examples::

    sagehealth review list --user dr-lee --role clinician
    sagehealth review show thread-1a2b3c --user dr-lee --role clinician
    sagehealth review approve thread-1a2b3c --user dr-lee --role clinician --note "agree"
    sagehealth review edit thread-1a2b3c --output '{"impression": "Mild cardiomegaly."}' --user dr-lee --role radiologist
    sagehealth review reject thread-1a2b3c --user dr-lee --role clinician --note "wrong side"
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, caller, console, emit, fail, load_settings
from core.errors import SageError
from core.settings import Settings


def _reviewer(settings: Settings, user: str | None, role: str | None, purpose: str) -> dict[str, str]:
    name, role_name = caller(settings, user, role)
    return {"reviewer": name, "role": role_name, "purpose": purpose}


def register(app: typer.Typer) -> None:
    """Add the ``review`` command group."""
    review = typer.Typer(help="List runs waiting for human review and approve, edit or reject them.", no_args_is_help=True)
    app.add_typer(review, name="review")

    @review.command("list")
    def list_cmd(as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Runs paused for review."""
        from graphs.review import authorize_review, reviewer_caller
        from graphs.runner import paused_runs

        settings = load_settings()
        try:
            authorize_review(settings, reviewer_caller(_reviewer(settings, user, role, purpose)), "list", "paused-runs")
            runs = paused_runs(settings)
        except SageError as exc:
            fail(exc, as_json)
            return

        def render(items: list[Any]) -> None:
            table = Table("thread", "run", "task", "why")
            for r in items:
                table.add_row(r.thread_id, r.run_id, str(r.task), "; ".join((r.review or {}).get("reasons", [])))
            console.print(table if items else "no runs waiting for review")

        emit([r.model_dump(mode="json") for r in runs] if as_json else runs, as_json, render)

    @review.command("show")
    def show_cmd(
        thread: str = typer.Argument(..., help="Thread id."), as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt,
    ) -> None:
        """One paused run: why it waits, and the output to review."""
        from app.commands.run import render_result
        from graphs.review import authorize_review, reviewer_caller
        from graphs.runner import load_result

        settings = load_settings()
        try:
            authorize_review(settings, reviewer_caller(_reviewer(settings, user, role, purpose)), "show", thread[:128])
            result = load_result(settings, thread)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(result, as_json, render_result)

    def _decide(thread: str, action: str, who: tuple[str | None, str | None, str], note: str, output: str | None, as_json: bool) -> None:
        from app.commands.run import parse_input, render_result
        from core.telemetry import configure_tracing
        from graphs.runner import resume_run

        settings = load_settings()
        configure_tracing(settings)
        # resume_run checks the reviewer's role (graphs.review) before the run continues.
        decision: dict[str, Any] = {"action": action, **_reviewer(settings, *who), "note": note}
        try:
            if output is not None:
                decision["output"] = parse_input(output)
            result = resume_run(settings, thread, decision)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(result, as_json, render_result)

    NoteOpt = typer.Option("", "--note", help="Reviewer's note (audited).")

    @review.command("approve")
    def approve_cmd(
        thread: str = typer.Argument(...), user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, note: str = NoteOpt, as_json: bool = JsonOpt,
    ) -> None:
        """Accept the output as it is and finish the run."""
        _decide(thread, "approve", (user, role, purpose), note, None, as_json)

    @review.command("edit")
    def edit_cmd(
        thread: str = typer.Argument(...),
        output: str = typer.Option(..., "--output", help="Corrected output fields as JSON or @file (merged into the output)."),
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
        note: str = NoteOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Correct the output (re-checked for PHI) and finish the run."""
        _decide(thread, "edit", (user, role, purpose), note, output, as_json)

    @review.command("reject")
    def reject_cmd(
        thread: str = typer.Argument(...), user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, note: str = NoteOpt, as_json: bool = JsonOpt,
    ) -> None:
        """Reject the output; the run ends denied."""
        _decide(thread, "reject", (user, role, purpose), note, None, as_json)
