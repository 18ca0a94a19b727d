"""The HTTP API's app factory: routes over the services, the job queue, the web page, one error shape.

``create_app(resources)`` builds a FastAPI app for one installation. Every route authenticates
with an API key and calls one service (``app`` imports only ``services`` and ``core``), so each
request gets the same policy checks, audit entries and traces as the CLI. Graph work (runs,
chat turns, review answers) runs in the job queue (``app.http.jobs``), never on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.http import errors
from app.http.jobs import JobManager, SpanFeed
from app.http.openai_agent import router as openai_router
from app.http.routes_chat import router as chat_router
from app.http.routes_data import router as data_router
from app.http.routes_runs import router as runs_router
from core.telemetry import configure_tracing
from services.base import Resources

STATIC = Path(__file__).with_name("static")
DESCRIPTION = """Governed clinical agents over HTTP. Authenticate with an API key (`sagehealth keys create`)
in the `x-api-key` header or as `Authorization: Bearer KEY`. Errors are `{"error": {"type", "message", "hint"}}`.
The web page is at `/`; an OpenAI-compatible agent endpoint is under `/v1`."""


def create_app(resources: Resources, *, concurrency: int | None = None, max_queued: int | None = None) -> FastAPI:
    """The API for one installation.

    Args:
        resources: The installation's backends (``Resources.for_settings(settings)``).
        concurrency: Runs and chat turns executed at once (default ``settings.api_concurrency``).
        max_queued: Queued jobs beyond which requests get 429 (default ``settings.api_max_queued``).
    """
    settings = resources.settings
    jobs = JobManager(limit=concurrency or settings.api_concurrency, max_queued=max_queued or settings.api_max_queued)
    feed = SpanFeed()
    configure_tracing(settings, extra=feed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()

    app = FastAPI(title="SAGE-Health API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.resources, app.state.jobs, app.state.span_feed = resources, jobs, feed
    errors.install(app)
    for router in (runs_router, chat_router, data_router, openai_router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
