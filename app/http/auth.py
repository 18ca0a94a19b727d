"""API key authentication: the ``x-api-key`` header or ``Authorization: Bearer`` → a caller.

Keys are minted with ``sagehealth keys create`` and checked by ``services.keys.authenticate``
(hashed store); the caller a key maps to (user, role, purpose) is the one every service then
authorises. A missing, unknown or revoked key is 401 before any service runs; what the role may
do is decided by the services (403 on denial), never here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.http.errors import ApiError
from services.base import Caller, Resources
from services.keys import authenticate

api_key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="An API key from `sagehealth keys create`.")
bearer = HTTPBearer(auto_error=False, description="The same API key as a Bearer token (OpenAI clients send it this way).")
HINT = "send an API key from `sagehealth keys create` as the x-api-key header or Authorization: Bearer"


def resources_of(request: Request) -> Resources:
    """The installation the app was created for."""
    return request.app.state.resources  # type: ignore[no-any-return]


def current_caller(
    request: Request,
    key: Annotated[str | None, Depends(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller of a request, or a 401 naming how to authenticate."""
    secret = key or (token.credentials if token is not None else None)
    if not secret:
        raise ApiError(401, "AuthenticationError", "no API key in the request", HINT)
    found = authenticate(resources_of(request), secret)
    if found is None:
        raise ApiError(401, "AuthenticationError", "the API key is unknown or revoked", HINT)
    return found


CallerDep = Annotated[Caller, Depends(current_caller)]
