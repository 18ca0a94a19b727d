"""``sagehealth mcp serve`` (the clinical tools for other agents) and ``sagehealth mcp outside`` (tools of outside servers).

Examples::

    SAGE_MCP_USER=dr-lee SAGE_MCP_ROLE=clinician SAGE_MCP_PURPOSE=treatment sagehealth mcp serve
    sagehealth mcp serve --transport http --host 127.0.0.1 --port 8765     # callers send an API key
    sagehealth mcp outside --role clinician --purpose treatment           # outside tools this role may use
"""

from __future__ import annotations

from typing import Any

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError

mcp_app = typer.Typer(help="Model Context Protocol: serve the governed clinical tools, use outside tools under policy.", no_args_is_help=True)


@mcp_app.command("serve")
def serve(
    transport: str = typer.Option("stdio", "--transport", help="stdio (the client starts this process) or http (streamable HTTP)."),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="HTTP port."),
) -> None:
    """Serve similar-case search, report drafting, diagnosis support, cohort, interactions and run/trace lookup over MCP.

    stdio runs as the caller of the MCP configuration (SAGE_MCP_USER/ROLE/PURPOSE or its file);
    http runs each request as the caller of its API key. Every call passes the same policy
    checks, de-identification, audit and tracing as the CLI.
    """
    from app.mcp.transports import run_http, run_stdio
    from services.base import Caller
    from services.mcp_tools import load_config

    if transport not in ("stdio", "http"):
        fail(SageError(f"unknown transport {transport!r}", hint="--transport stdio or --transport http"))
    resources = open_resources()
    try:
        if transport == "http":
            run_http(resources, host, port)
            return
        try:
            configured = load_config(resources.settings.home).caller
        except SageError as exc:
            fail(exc)
            return
        run_stdio(resources, Caller(user=configured.user, role=configured.role, purpose=configured.purpose))
    finally:
        resources.close()


@mcp_app.command("outside")
def outside(user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt, as_json: bool = JsonOpt) -> None:
    """List the outside MCP tools your role may use (granted by name as mcp:SERVER:TOOL), and servers that failed."""
    from services.mcp_tools import outside_tools_sync

    resources = open_resources()
    try:
        found = outside_tools_sync(resources, who(resources, user, role, purpose))
    except SageError as exc:
        fail(exc, as_json)
        return
    result = {"usable": [t.metadata["qualified_name"] for t in found.tools if t.metadata], "not_granted": found.hidden, "errors": found.errors}

    def render(r: dict[str, Any]) -> None:
        for name in r["usable"]:
            console.print(f"[green]usable[/]      {name}")
        for name in r["not_granted"]:
            console.print(f"[dim]not granted[/] {name}")
        for server, why in r["errors"].items():
            console.print(f"[red]failed[/]      {server}: {why}")

    emit(result, as_json, render)


def register(app: typer.Typer) -> None:
    """Mount ``mcp``."""
    app.add_typer(mcp_app, name="mcp")
