"""``sagehealth keys create|list|revoke``: API keys for the HTTP API, MCP over HTTP and the LangGraph server.

Managing keys needs a role the pack grants ``keys_manage`` by name (``admin`` in the default
pack). Examples::

    sagehealth keys create --for-user dr-lee --for-role clinician --for-purpose treatment --role admin --purpose operations
    sagehealth keys list --role admin --purpose operations
    sagehealth keys revoke key_1a2b3c4d5e6f --role admin --purpose operations
"""

from __future__ import annotations

from typing import Any

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

keys_app = typer.Typer(help="API keys: each maps to one user, role and purpose; stored hashed.", no_args_is_help=True)
ForUser = typer.Option(..., "--for-user", help="User the key acts for.")
ForRole = typer.Option(..., "--for-role", help="Role the key acts in (must exist in the policy pack).")
ForPurpose = typer.Option(..., "--for-purpose", help="Purpose of use the key declares.")


@keys_app.command("create")
def create(for_user: str = ForUser, for_role: str = ForRole, for_purpose: str = ForPurpose,
           user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
    """Create a key; its secret is printed once and stored nowhere."""
    from services.keys import KeyRequest, create_key

    resources = open_resources()
    try:
        key = create_key(resources, who(resources, user, role, purpose), KeyRequest(user=for_user, role=for_role, purpose=for_purpose))
    except SageError as exc:
        fail(exc, as_json)
        return
    emit(key, as_json, lambda k: console.print(f"key [bold]{k.id}[/] for {k.user} ({k.role}, {k.purpose}):\n{k.secret}\n[yellow]shown once: store it now[/]"))


@keys_app.command("list")
def list_cmd(user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
    """Every key's id, caller and state (never secrets)."""
    from services.keys import list_keys

    resources = open_resources()
    try:
        keys = list_keys(resources, who(resources, user, role, purpose))
    except SageError as exc:
        fail(exc, as_json)
        return

    def render(items: list[Any]) -> None:
        for k in items:
            console.print(f"{k.id}  {k.user:<16} {k.role:<14} {k.purpose:<12} {k.created_at:%Y-%m-%d %H:%M}  {'[red]revoked[/]' if k.revoked else 'active'}")

    emit([k.model_dump(mode="json") for k in keys] if as_json else keys, as_json, render)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="Key id (key_...)."), user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
    """Stop a key from working."""
    from services.keys import revoke_key

    resources = open_resources()
    try:
        info = revoke_key(resources, who(resources, user, role, purpose), key_id)
    except SageError as exc:
        fail(exc, as_json)
        return
    emit(info, as_json, lambda k: console.print(f"revoked {k.id} ({k.user})"))


def register(app: typer.Typer) -> None:
    """Mount ``keys``."""
    app.add_typer(keys_app, name="keys")
