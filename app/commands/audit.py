"""``sagehealth audit verify``: check the hash chain of the audit log (the pack's ``audit_verify``)."""

from __future__ import annotations

from typing import Any

import typer

from app.common import (
    JsonOpt,
    PurposeOpt,
    RoleOpt,
    UserOpt,
    console,
    emit,
    err_console,
    fail,
    open_resources,
    who,
)
from core.errors import SageError

audit_app = typer.Typer(help="Audit log commands.", no_args_is_help=True)


@audit_app.command("verify")
def verify(as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
    """Exit 0 when the audit log is intact; 1 naming the first altered or missing entry."""
    from services.audit import verify as verify_service

    resources = open_resources()
    path = resources.settings.audit_path
    try:
        result = verify_service(resources, who(resources, user, role, purpose))
    except SageError as exc:
        fail(exc, as_json)
        return

    def render(r: Any) -> None:
        if r.ok:
            console.print(f"[green]audit log intact[/]: {r.entries} entries ({path})")
        else:
            err_console.print(f"[bold red]audit log broken[/] at seq {r.first_bad_seq}: {r.reason} ({path})")

    emit({**result.model_dump(mode="json"), "path": str(path)} if as_json else result, as_json, render)
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount ``audit`` on the main CLI."""
    app.add_typer(audit_app, name="audit")
