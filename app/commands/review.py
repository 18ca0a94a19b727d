"""``sagehealth review list|show|approve|edit|reject``: the human in the loop.

Runs whose post-check asked for review (weak evidence, ungrounded citations, uncertain
findings, policy) wait on their thread; a reviewer decides and the run resumes from its
checkpoint. Every subcommand is governed: the pack must grant the caller's role the ``review``
action (``services.reviews``), and each check is audited; the run resumes as the reviewer. Examples::

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

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError


def register(app: typer.Typer) -> None:
    """Add the ``review`` command group."""
    review = typer.Typer(help="List runs waiting for human review and approve, edit or reject them.", no_args_is_help=True)
    app.add_typer(review, name="review")

    @review.command("list")
    def list_cmd(as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Runs paused for review."""
        from services.reviews import list_reviews

        resources = open_resources()
        try:
            runs = list_reviews(resources, who(resources, user, role, purpose))
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
        from services.reviews import show_review

        resources = open_resources()
        try:
            result = show_review(resources, who(resources, user, role, purpose), thread)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(result, as_json, render_result)

    def _decide(thread: str, action: str, person: tuple[str | None, str | None, str], note: str, output: str | None, as_json: bool) -> None:
        from app.commands.run import parse_input, render_result
        from services.reviews import ReviewDecision, decide

        resources = open_resources()
        try:
            decision = ReviewDecision(thread_id=thread, action=action, note=note, output=parse_input(output) if output is not None else None)  # type: ignore[arg-type]
            result = decide(resources, who(resources, *person), decision)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
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
