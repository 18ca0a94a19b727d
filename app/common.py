"""Shared CLI plumbing: settings, caller identity, and output in rich or JSON form.

Every command module in ``app/commands`` exposes ``register(app: typer.Typer) -> None`` and
uses these helpers, so ``--json``, ``--user`` and ``--role`` behave the same everywhere.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console

from core.errors import SageError
from core.settings import Settings

console = Console(stderr=False)
err_console = Console(stderr=True)

JsonOpt = typer.Option(False, "--json", help="Machine-readable JSON output.")
UserOpt = typer.Option(None, "--user", help="Caller name (default: SAGE_DEFAULT_USER).")
RoleOpt = typer.Option(None, "--role", help="Caller role (default: SAGE_DEFAULT_ROLE).")
PurposeOpt = typer.Option("treatment", "--purpose", help="Purpose of use (policy-checked).")


def load_settings() -> Settings:
    """Settings from the environment (``SAGE_*``), with SAGE_HOME created."""
    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings


def caller(settings: Settings, user: str | None, role: str | None) -> tuple[str, str]:
    """The (user, role) for a command; the settings defaults only when the option is absent (``""`` stays empty and is denied)."""
    return (settings.default_user if user is None else user), (settings.default_role if role is None else role)


def emit(result: Any, as_json: bool, render: Any = None) -> None:
    """Print a result: JSON (pydantic models and plain data) or a rich rendering.

    Args:
        result: What to print.
        as_json: Print ``json.dumps`` of the result to stdout.
        render: Optional callable(result) that prints a human view with ``console``.
    """
    if as_json:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif render is not None:
        render(result)
    else:
        console.print(result)


def fail(exc: SageError, as_json: bool = False, code: int = 1) -> None:
    """Report an expected error without a traceback and exit non-zero."""
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.message, "hint": exc.hint, "type": type(exc).__name__}) + "\n")
    else:
        err_console.print(f"[bold red]error:[/] {exc.message}")
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {exc.hint}")
    raise typer.Exit(code)


def governed_cli(settings: Settings, user: str | None, role: str | None, purpose: str) -> Any:
    """A tool invoker for a person at the command line: same policy checks, audit and spans as agents."""
    from tools.base import ToolDeps
    from tools.governed import GovernedInvoker

    name, role_name = caller(settings, user, role)
    return GovernedInvoker(ToolDeps(settings=settings, user=name, role=role_name, purpose=purpose), "cli")
