"""The two transports of ``sagehealth mcp serve`` and how each one knows its caller.

* **stdio** (a desktop assistant or IDE starts the server as its child): the caller is the
  installation's MCP configuration (``SAGE_MCP_USER`` / ``SAGE_MCP_ROLE`` / ``SAGE_MCP_PURPOSE``
  or the config file's ``caller``). A missing field leaves the caller incomplete, and every call
  is refused by the services (identity is never defaulted). Anything printed to stdout would
  corrupt the protocol, so ``sys.stdout`` points at stderr while the server runs.
* **streamable HTTP**: every request must carry an API key (``x-api-key: KEY`` or
  ``Authorization: Bearer KEY``, made with ``sagehealth keys create``); a missing, unknown or
  revoked key is answered ``401`` before MCP sees the request, and the key's caller travels in
  the ASGI scope to the handlers. Bodies over ``MAX_BODY_BYTES`` are refused by the SDK (413).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from io import TextIOWrapper
from typing import Any

import anyio

from app.mcp.server import build_server
from services.base import Caller, Resources
from services.keys import authenticate

MAX_BODY_BYTES = 1024 * 1024
SCOPE_KEY = "sage.caller"


def run_stdio(resources: Resources, caller: Caller) -> None:
    """Serve MCP over this process's stdin/stdout as ``caller`` until the client closes stdin."""
    from mcp.server.stdio import stdio_server

    server = build_server(lambda: caller, lambda: resources)
    out = anyio.wrap_file(TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    sys.stdout = sys.stderr  # stray prints (libraries, progress bars) must not reach the protocol stream

    async def main() -> None:
        async with stdio_server(stdout=out) as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key of a request: ``x-api-key``, else an ``Authorization: Bearer`` token."""
    found = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
    if found.get("x-api-key"):
        return found["x-api-key"].strip()
    scheme, _, token = found.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def http_app(resources: Resources) -> Any:
    """The ASGI app: ``/mcp`` (streamable HTTP, stateless, JSON answers) behind API-key authentication."""
    from mcp.server.lowlevel.server import request_ctx
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def caller_of() -> Caller:
        request = request_ctx.get().request
        found = request.scope.get(SCOPE_KEY) if request is not None else None
        return found if isinstance(found, Caller) else Caller(user="", role="", purpose="")  # refused by the services

    server = build_server(caller_of, lambda: resources)
    manager = StreamableHTTPSessionManager(app=server, json_response=True, stateless=True, max_request_body_size=MAX_BODY_BYTES)

    class Endpoint:  # an ASGI app (a plain function would be wrapped as a request/response handler)
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await guarded(scope, receive, send)

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            caller = await anyio.to_thread.run_sync(authenticate, resources, presented_key(scope.get("headers", [])))
            if caller is None:
                answer = JSONResponse({"error": "missing, unknown or revoked API key", "hint": "send x-api-key or Authorization: Bearer (sagehealth keys create)"},
                                      status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await answer(scope, receive, send)
                return
            scope[SCOPE_KEY] = caller
        await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(routes=[Route("/mcp", endpoint=Endpoint())], lifespan=lifespan)


def run_http(resources: Resources, host: str, port: int) -> None:
    """Serve MCP over streamable HTTP at ``http://HOST:PORT/mcp`` until interrupted."""
    import uvicorn

    uvicorn.run(http_app(resources), host=host, port=port, log_level="warning")
