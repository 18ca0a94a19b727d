"""Model commands: ``sagehealth models list`` and ``sagehealth serve-model``.

Examples::

    sagehealth models list --json
    sagehealth serve-model --model smollm2-135m --adapter impressions-v1 --port 8001
"""

from __future__ import annotations

import typer
from rich.table import Table

from app.common import JsonOpt, console, emit, fail, load_settings
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
    def list_models(as_json: bool = JsonOpt) -> None:
        """List every model in the zoo with its availability (loads nothing)."""
        from models.zoo import ModelZoo

        try:
            statuses = ModelZoo(load_settings()).list()
        except SageError as exc:
            fail(exc, as_json)
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

        from core.telemetry import configure_tracing
        from models.serve import create_model_server
        from models.zoo import ModelZoo

        settings = load_settings()
        configure_tracing(settings)
        name = model or settings.chat_model
        try:
            zoo = ModelZoo(settings)
            zoo.chat_model(name)  # load before listening: a broken model fails here, not on request one
            if adapter:
                from models.adapt.registry import AdapterRegistry

                AdapterRegistry(settings).get(adapter)
            server = create_model_server(zoo, name, adapter)
        except SageError as exc:
            fail(exc, as_json)
        emit({"url": f"http://{host}:{port}/v1", "model": name, "adapter": adapter}, as_json, lambda r: console.print(f"serving [bold]{name}[/] at {r['url']}"))
        uvicorn.run(server, host=host, port=port, log_level="warning")
