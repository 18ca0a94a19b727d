"""``sagehealth audit verify``: check the hash chain of the audit log."""

from __future__ import annotations

import typer

from app.common import JsonOpt, console, emit, err_console, load_settings
from policies.audit import AuditLog, AuditVerification

audit_app = typer.Typer(help="Audit log commands.", no_args_is_help=True)


@audit_app.command("verify")
def verify(as_json: bool = JsonOpt) -> None:
    """Exit 0 when the audit log is intact; 1 naming the first altered or missing entry."""
    settings = load_settings()
    result = AuditLog(settings.audit_path).verify()

    def render(r: AuditVerification) -> None:
        if r.ok:
            console.print(f"[green]audit log intact[/]: {r.entries} entries ({settings.audit_path})")
        else:
            err_console.print(f"[bold red]audit log broken[/] at seq {r.first_bad_seq}: {r.reason} ({settings.audit_path})")

    emit({**result.model_dump(mode="json"), "path": str(settings.audit_path)} if as_json else result, as_json, render)
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount ``audit`` on the main CLI."""
    app.add_typer(audit_app, name="audit")
