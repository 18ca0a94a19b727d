"""``sagehealth feedback`` and ``sagehealth labels history|rollback``: the clinician feedback loop.

Examples::

    sagehealth feedback CXR880 --set cardiomegaly=absent --reason "heart size normal on review" --user dr-lee --role radiologist
    sagehealth feedback CXR12 --set pneumonia=absent --set atelectasis=present --was pneumonia=present --reason "linear opacity is atelectasis"
    sagehealth labels history CXR12
    sagehealth labels rollback --event fb-1a2b3c4d5e6f7a8b
"""

from __future__ import annotations

from typing import Any

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

SetOpt = typer.Option(..., "--set", help="New state, FINDING=STATE (present, absent, uncertain); repeatable.")
WasOpt = typer.Option([], "--was", help="State you saw, FINDING=STATE (default: the case's current label).")
ReasonOpt = typer.Option(..., "--reason", help="Why (kept in the raw tier; only a fingerprint is audited).")
RunOpt = typer.Option(None, "--run", help="The run whose output was wrong, if any.")
labels_app = typer.Typer(help="A case's label versions: history and rollback of corrections.", no_args_is_help=True)


def _pairs(values: list[str]) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in values)}


def _render_result(r: Any) -> None:
    console.print(f"[bold]{r.status}[/] event {r.event_id} on {r.case_id}" + (f" (label version {r.label_version})" if r.label_version else ""))
    for reason in r.reasons:
        console.print(f"  [yellow]{reason}[/]")
    for p in r.proposals:
        console.print(f"  proposal {p.case_id}: {p.finding} {p.old} -> {p.new} [{p.status}] similarity {p.similarity:.2f}, confidence {p.confidence:.2f}: {p.supporting_sentence or p.support}")


def register(app: typer.Typer) -> None:
    """Add ``feedback`` and the ``labels`` group."""

    @app.command("feedback")
    def feedback_cmd(case_id: str = typer.Argument(..., help="Case (report) id, e.g. CXR880."), new: list[str] = SetOpt, was: list[str] = WasOpt,
                     reason: str = ReasonOpt, run: str | None = RunOpt, user: str | None = UserOpt, role: str | None = RoleOpt,
                     purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
        """Correct a case's labels; similar cases get proposals; the change is versioned and audited."""
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
                console.print(f"v{v.version} {v.created_at} {v.kind:<12} {v.actor} ({v.role or '-'}) {v.event_id or ''}  {changed}  {v.reason or ''}")
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

    app.add_typer(labels_app, name="labels")
