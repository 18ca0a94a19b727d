"""Model commands: ``sagehealth models list`` and ``sagehealth serve-model``.

Examples::

    sagehealth models list --json
    sagehealth serve-model --model smollm2-135m --adapter impressions-v1 --port 8001
"""

from __future__ import annotations

import typer
from rich.table import Table

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError


def _render(statuses: list) -> None:  # list[ModelSpecStatus]; the zoo is imported lazily
    table = Table(title="Model zoo")
    for column in ("name", "roles", "backend", "available", "cached", "source", "detail"):
        table.add_column(column, no_wrap=column in ("name", "backend"))
    for s in statuses:
        table.add_row(
            s.spec.name, ", ".join(s.spec.roles), s.spec.backend, "yes" if s.available else "[red]no[/]",
            "yes" if s.cached else "no", s.source, s.detail,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``models`` group and ``serve-model`` to the CLI."""
    models_app = typer.Typer(help="The model zoo: chat, report, embedding and image models.", no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("list")
    def list_cmd(as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """List every model in the zoo with its availability (loads nothing)."""
        from services.models import list_models

        resources = open_resources()
        try:
            statuses = list_models(resources, who(resources, user, role, purpose))
        except SageError as exc:
            fail(exc, as_json)
            return
        emit([s.model_dump(mode="json") for s in statuses] if as_json else statuses, as_json, _render)

    @app.command("serve-model")
    def serve_model(
        model: str | None = typer.Option(None, "--model", help="Default zoo model (default: SAGE_CHAT_MODEL)."),
        adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter used when a request names no model."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; keep 127.0.0.1 unless behind a gateway."),
        port: int = typer.Option(8001, "--port", min=1, max=65535),
        as_json: bool = JsonOpt,
    ) -> None:
        """Serve a zoo model over an OpenAI-compatible API (/v1/chat/completions, /v1/models, /healthz)."""
        import uvicorn

        from services.models import model_server

        try:
            name, server = model_server(open_resources(), model, adapter)
        except SageError as exc:
            fail(exc, as_json)
            return
        emit({"url": f"http://{host}:{port}/v1", "model": name, "adapter": adapter}, as_json, lambda r: console.print(f"serving [bold]{name}[/] at {r['url']}"))
        uvicorn.run(server, host=host, port=port, log_level="warning")
