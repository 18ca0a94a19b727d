"""``sagehealth feedback`` (correct, pending, approve, reject) and ``sagehealth labels history|rollback``: the clinician feedback loop.

Examples::

    sagehealth feedback CXR880 --set cardiomegaly=absent --reason "heart size normal on review" --user dr-lee --role radiologist
    sagehealth feedback correct CXR880 --set cardiomegaly=absent --reason "heart size normal on review" --run run-38772397a705
    sagehealth feedback CXR12 --set pneumonia=absent --set atelectasis=present --was pneumonia=present --reason "linear opacity is atelectasis"
    sagehealth feedback pending --user dr-kim --role radiologist
    sagehealth feedback approve fb-1a2b3c4d5e6f7a8b --user dr-kim --role radiologist
    sagehealth feedback reject fb-1a2b3c4d5e6f7a8b.p2 --note "the report says the opposite" --user dr-kim --role radiologist
    sagehealth labels history CXR12
    sagehealth labels rollback --event fb-1a2b3c4d5e6f7a8b

``feedback CASE ...`` and ``feedback --case CASE ...`` are short for ``feedback correct CASE ...``:
a first word that is not one of the group's commands is taken as a case id, so the correction
command reads as it always did.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

SetOpt = typer.Option(..., "--set", help="New state, FINDING=STATE (present, absent, uncertain); repeatable.")
WasOpt = typer.Option([], "--was", help="State you saw, FINDING=STATE (default: the case's current label).")
ReasonOpt = typer.Option(..., "--reason", help="Why (kept in the raw tier; only a fingerprint is audited).")
RunOpt = typer.Option(None, "--run", help="The run whose output was wrong, if any.")
NoteOpt = typer.Option("", "--note", help="Your note on the decision (only its fingerprint is audited).")
ItemArg = typer.Argument(..., help="A pending correction's event id (fb-...) or a queued proposal's id (fb-....pN), from `sagehealth feedback pending`.")
labels_app = typer.Typer(help="A case's label versions: history and rollback of corrections.", no_args_is_help=True)


class _FeedbackGroup(TyperGroup):
    """``feedback CASE --set ...`` (or ``--case CASE``) next to ``feedback pending|approve|reject``: an unknown first word is a case id for ``correct``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click types (typer._click) are private
        if args and args[0].startswith("--case="):
            args = [args[0].removeprefix("--case="), *args[1:]]
        elif len(args) > 1 and args[0] == "--case":
            args = args[1:]
        return super().parse_args(ctx, args)  # type: ignore[no-any-return]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["correct", *args]
        return super().resolve_command(ctx, args)


feedback_app = typer.Typer(
    cls=_FeedbackGroup, no_args_is_help=True,
    help="Correct a case's labels, and review what waits for a second reviewer.\n\n"
         "Example: sagehealth feedback CXR880 --set cardiomegaly=absent --reason \"heart size normal\" (short for `feedback correct CXR880 ...`); "
         "a second reviewer runs `sagehealth feedback pending`, then `sagehealth feedback approve ID` or `reject ID --note ...`.",
)


def _pairs(values: list[str]) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in values)}


def _render_result(r: Any) -> None:
    console.print(f"[bold]{r.status}[/] event {r.event_id} on {r.case_id}" + (f" (label version {r.label_version})" if r.label_version else ""))
    for reason in r.reasons:
        console.print(f"  [yellow]{reason}[/]")
    for p in r.proposals:
        console.print(f"  proposal {p.proposal_id} {p.case_id}: {p.finding} {p.old} -> {p.new} [{p.status}] similarity {p.similarity:.2f}, confidence {p.confidence:.2f}: {p.supporting_sentence or p.support}")
    if r.status == "needs_review":
        console.print(f"  held as {r.event_id}; a second reviewer (another user in a reviewer role) runs: sagehealth feedback approve {r.event_id}  (or reject {r.event_id} --note ...)")
    if any(p.status == "queued" for p in r.proposals):
        console.print("  queued proposals: sagehealth feedback approve|reject PROPOSAL_ID")


def _changes_text(changes: list[Any]) -> str:
    return ", ".join(f"{c.finding}: {c.old} -> {c.new}" for c in changes)


def _render_pending(found: Any) -> None:
    for c in found.corrections:
        console.print(f"[bold]{c.event_id}[/] correction of {c.case_id} by {c.user} ({c.role}) {c.created_at}: {_changes_text(c.changes)}")
        console.print(f"  why review: {'; '.join(c.why) or '-'}; reason: {c.reason}" + (f"; run {c.run_id}" if c.run_id else ""))
    for p in found.proposals:
        console.print(f"[bold]{p.proposal_id}[/] proposal for {p.case_id} (from {p.event_id}): {p.finding} {p.old} -> {p.new}, "
                      f"similarity {p.similarity:.2f}, confidence {p.confidence:.2f}: {p.supporting_sentence or p.support}")
    if not found.corrections and not found.proposals:
        console.print("nothing waits for review")
    else:
        console.print("decide with: sagehealth feedback approve ID  |  sagehealth feedback reject ID --note ...")


def _render_outcome(o: Any) -> None:
    verb = "approved" if o.approved else "rejected"
    console.print(f"[bold]{verb}[/] {o.kind} {o.item_id} on {o.case_id} by {o.reviewer}" + (f" (label version {o.label_version})" if o.label_version else ""))
    if o.result is not None:
        _render_result(o.result)


def _decide(item_id: str, approve: bool, note: str, user: str | None, role: str | None, purpose: str, as_json: bool) -> None:
    from services.feedback import decide

    resources = open_resources()
    try:
        outcome = decide(resources, who(resources, user, role, purpose), item_id, approve, note)
    except SageError as exc:
        fail(exc, as_json)
        return
    finally:
        resources.close()
    emit(outcome, as_json, _render_outcome)


def register(app: typer.Typer) -> None:
    """Add the ``feedback`` and ``labels`` groups."""

    @feedback_app.command("correct")
    def feedback_cmd(case_id: str = typer.Argument(..., help="Case (report) id, e.g. CXR880."), new: list[str] = SetOpt, was: list[str] = WasOpt,
                     reason: str = ReasonOpt, run: str | None = RunOpt, user: str | None = UserOpt, role: str | None = RoleOpt,
                     purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Correct a case's labels; similar cases get proposals; the change is versioned and audited.

        A correction the pack sends to a second reviewer comes back needs_review with its id;
        another user in a reviewer role approves it with: sagehealth feedback approve ID
        """
        from services.feedback import CorrectionRequest, correct, history

        resources = open_resources()
        person = who(resources, user, role, purpose)
        try:
            before = _pairs(was)
            if not before:  # what the clinician saw: the case's current labels
                versions = history(resources, person, case_id)
                before = dict(versions[-1].labels) if versions else {}
            changes = [{"finding": f, "old": before.get(f), "new": s} for f, s in _pairs(new).items()]
            request = CorrectionRequest.parse({"case_id": case_id, "changes": changes, "reason": reason, "run_id": run})
            result = correct(resources, person, request)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
        emit(result, as_json, _render_result)
        if result.status == "rejected":
            raise typer.Exit(2)

    @feedback_app.command("pending")
    def pending_cmd(case: str | None = typer.Option(None, "--case", help="Only this case's items."), user: str | None = UserOpt, role: str | None = RoleOpt,
                    purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Corrections waiting for a second reviewer and proposals queued for review (reasons de-identified).

        Example: sagehealth feedback pending --case CXR12 --user dr-kim --role radiologist
        """
        from services.feedback import pending

        resources = open_resources()
        try:
            found = pending(resources, who(resources, user, role, purpose), case)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
        emit(found, as_json, _render_pending)

    @feedback_app.command("approve")
    def approve_cmd(item_id: str = ItemArg, note: str = NoteOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Approve a pending correction (applied now, with you as second reviewer) or a queued proposal.

        Example: sagehealth feedback approve fb-1a2b3c4d5e6f7a8b --user dr-kim --role radiologist
        The submitter cannot approve their own correction; the pack names the reviewer roles.
        """
        _decide(item_id, True, note, user, role, purpose, as_json)

    @feedback_app.command("reject")
    def reject_cmd(item_id: str = ItemArg, note: str = NoteOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Reject a pending correction or a queued proposal (no label changes; the decision is recorded and audited).

        Example: sagehealth feedback reject fb-1a2b3c4d5e6f7a8b.p2 --note "the report says the opposite" --user dr-kim --role radiologist
        """
        _decide(item_id, False, note, user, role, purpose, as_json)

    @labels_app.command("history")
    def history_cmd(case_id: str = typer.Argument(...), user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Every label version of a case, with who changed it and why."""
        from services.feedback import history

        resources = open_resources()
        try:
            versions = history(resources, who(resources, user, role, purpose), case_id)
        except SageError as exc:
            fail(exc, as_json)
            return

        def render(items: list[Any]) -> None:
            for v in items:
                changed = ", ".join(f"{f}: {a} -> {b}" for f, (a, b) in v.changed.items()) or "-"
                reviewed = f" reviewed by {v.reviewer}" if v.reviewer else ""
                console.print(f"v{v.version} {v.created_at} {v.kind:<12} {v.actor} ({v.role or '-'}){reviewed} {v.event_id or ''}  {changed}  {v.reason or ''}")
            if not items:
                console.print(f"no label versions for {case_id}")

        emit([v.model_dump(mode="json") for v in versions] if as_json else versions, as_json, render)

    @labels_app.command("rollback")
    def rollback_cmd(event: str = typer.Option(..., "--event", help="Feedback event id (fb-...)."), user: str | None = UserOpt, role: str | None = RoleOpt,
                     purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Undo one correction and the propagation it caused; later unrelated corrections stay."""
        from services.feedback import rollback

        resources = open_resources()
        try:
            result = rollback(resources, who(resources, user, role, purpose), event)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
        emit(result, as_json, lambda r: console.print(f"rolled back {r.event_id} ({r.rollback_event_id}): restored {r.restored}; kept later corrections {r.kept_later}"))

    app.add_typer(feedback_app, name="feedback")
    app.add_typer(labels_app, name="labels")
