"""Authentication for ``langgraph dev`` / LangGraph server (``langgraph.json`` → ``auth.path``).

The server calls :func:`authenticate` on every request: the caller presents an API key
(``x-api-key`` header, or ``Authorization: Bearer ...``) made with ``sagehealth keys create``,
and gets the user, role and purpose that key maps to. The graphs read that identity from the
run's config (``tools.contract.caller_context``) and ignore any identity in the request's
``context`` body, so their governance nodes, including the review gate, check the key's caller.
A missing, unknown or revoked key is a 401 before anything runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_sdk import Auth

auth = Auth()


def _presented(headers: dict[Any, Any]) -> str | None:
    def get(name: str) -> str | None:
        value = headers.get(name.encode()) or headers.get(name)
        return value.decode() if isinstance(value, bytes) else value

    bearer = get("authorization") or ""
    return get("x-api-key") or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else None)


def _key_caller(secret: str | None) -> Any:
    from app.common import open_resources
    from services.keys import authenticate as key_caller

    return key_caller(open_resources(), secret)


@auth.authenticate
async def authenticate(headers: dict[Any, Any]) -> dict[str, Any]:
    """The caller of the presented API key, or 401.

    The key store is files on disk: the lookup runs in a worker thread, so the server's event
    loop never blocks on it (``langgraph dev`` refuses blocking calls in async code).
    """
    caller = await asyncio.to_thread(_key_caller, _presented(headers))
    if caller is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing, unknown or revoked API key (x-api-key)")
    return {"identity": caller.user, "role": caller.role, "purpose": caller.purpose, "permissions": [f"role:{caller.role}"]}
