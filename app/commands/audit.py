"""``sagehealth audit verify|anchor`` and ``sagehealth policy check|explain``: governance commands.

Examples::

    sagehealth audit anchor --out /secure/elsewhere/anchor.json --role auditor --purpose audit
    sagehealth audit verify --anchor /secure/elsewhere/anchor.json --role auditor --purpose audit
    sagehealth policy check ./site-pack.yaml
    sagehealth policy explain --for-role researcher --for-purpose research --tool query_records
"""

from __future__ import annotations

from pathlib import Path
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

audit_app = typer.Typer(help="Audit log: verify the keyed hash chain, export its head anchor.", no_args_is_help=True)
policy_app = typer.Typer(help="Policy packs: validate a pack file, explain a decision.", no_args_is_help=True)
AnchorOpt = typer.Option(None, "--anchor", help="Head anchor exported earlier (`audit anchor`): also detects a truncated or rolled-back log.")
OutOpt = typer.Option(None, "--out", help="Write the anchor to this file (default: print it).")
TableOpt = typer.Option([], "--table", help="A table the role would read (repeatable).")


@audit_app.command("verify")
def verify(anchor: Path | None = AnchorOpt, as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
    """Exit 0 when the audit log is intact; 1 naming the first altered, removed, reordered or forged entry."""
    from services.audit import verify as verify_service

    resources = open_resources()
    path = resources.settings.audit_path
    try:
        result = verify_service(resources, who(resources, user, role, purpose), anchor)
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


@audit_app.command("anchor")
def anchor_cmd(out: Path | None = OutOpt, as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
    """Print (or write) the log's signed head; keep it outside SAGE_HOME and pass it to `audit verify --anchor`."""
    from services.audit import anchor

    resources = open_resources()
    try:
        head = anchor(resources, who(resources, user, role, purpose))
    except SageError as exc:
        fail(exc, as_json)
        return
    if out is not None:
        out.write_text(head.model_dump_json(indent=2) + "\n", encoding="utf-8")
    emit(head, as_json, lambda h: console.print(h.model_dump_json(indent=2) if out is None else f"anchor of {h.seq} entries written to {out}"))


@policy_app.command("check")
def check(path: str = typer.Argument(..., help="Pack file (.json/.yaml) or shipped pack name."), as_json: bool = JsonOpt,
          user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
    """Validate a policy pack without activating it; each problem names the file, line and rule (exit 1)."""
    from services.audit import check_pack

    resources = open_resources()
    try:
        report = check_pack(resources, who(resources, user, role, purpose), path)
    except SageError as exc:
        fail(exc, as_json)
        return

    def render(r: Any) -> None:
        console.print(f"[green]ok[/]: {r.file}" if r.ok else f"[bold red]invalid[/]: {r.file}")
        for issue in r.issues:
            console.print(f"  {issue.file}:{issue.line or '?'}: [{issue.rule}] {issue.message}")

    emit(report, as_json, render)
    if not report.ok:
        raise typer.Exit(1)


@policy_app.command("explain")
def explain_cmd(for_role: str = typer.Option(..., "--for-role"), for_purpose: str = typer.Option(..., "--for-purpose"),
                tool: str | None = typer.Option(None, "--tool"), table: list[str] = TableOpt, action: str | None = typer.Option(None, "--action"),
                as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
    """Which rule of the active pack decides, and why (every rule evaluated is listed)."""
    from services.audit import ExplainRequest, explain

    resources = open_resources()
    try:
        request = ExplainRequest(role=for_role, purpose=for_purpose, tool=tool, tables=table or None, action=action)
        result = explain(resources, who(resources, user, role, purpose), request)
    except SageError as exc:
        fail(exc, as_json)
        return
    emit(result, as_json, lambda r: console.print_json(r.model_dump_json()))


def register(app: typer.Typer) -> None:
    """Mount ``audit`` and ``policy`` on the main CLI."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(policy_app, name="policy")
