"""``sagehealth serve``: the HTTP API, the web page and the OpenAI-compatible agent endpoint.

Examples::

    sagehealth keys create --for-user dr-a --for-role clinician --for-purpose treatment --role admin --purpose operations
    sagehealth serve --host 127.0.0.1 --port 8000     # then open http://127.0.0.1:8000/
    curl -H "x-api-key: $KEY" http://127.0.0.1:8000/api/reviews
"""

from __future__ import annotations

import typer

from app.common import open_resources


def register(app: typer.Typer) -> None:
    """Add ``serve``."""

    @app.command("serve")
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (127.0.0.1: this machine only)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
        concurrency: int | None = typer.Option(None, "--concurrency", min=1, max=64, help="Runs/chat turns at once (default SAGE_API_CONCURRENCY, 2)."),
    ) -> None:
        """Serve the API and web page (API keys from `sagehealth keys create`)."""
        import uvicorn

        from app.http.app import create_app

        uvicorn.run(create_app(open_resources(), concurrency=concurrency), host=host, port=port, log_level="warning")
