"""One JSON error shape for every failure, and the status codes each route declares in OpenAPI.

Every error body is ``{"error": {"type", "message", "hint"}}`` (OpenAI clients read
``error.message`` and ``error.type`` from the same shape). Expected errors (``SageError``) are
sorted into kinds by ``services.errors.kind_of``; request bodies that do not match their model
are 422 with every bad field named; anything unexpected is caught, logged without the request,
and answered 503 with a generic message rather than leaking a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import SageError
from services.errors import kind_of

log = logging.getLogger(__name__)

STATUS_OF_KIND = {"unauthenticated": 401, "denied": 403, "not_found": 404, "invalid": 400, "unavailable": 503}
TITLES = {400: "bad request", 401: "missing or unknown API key", 403: "the caller's role may not do this", 404: "not found",
          405: "method not allowed", 409: "conflict", 413: "request too large", 422: "request body or parameters do not match the model",
          429: "too many queued runs", 503: "service unavailable"}


class ErrorInfo(BaseModel):
    """What went wrong and what to do about it."""

    type: str = Field(description="Error class, e.g. 'ActionDeniedError', 'RequestValidationError'.")
    message: str
    hint: str | None = None


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorInfo


class ApiError(Exception):
    """An HTTP-level failure raised by a route (auth, conflicts, a full queue)."""

    def __init__(self, status: int, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.hint = status, kind, message, hint


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: each code with the error model (422 and 503 always)."""
    return {code: {"model": ErrorBody, "description": TITLES.get(code, "error")} for code in sorted({*codes, 422, 503})}


def error_response(status: int, kind: str, message: str, hint: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error answer in the one shape."""
    body = ErrorBody(error=ErrorInfo(type=kind, message=message, hint=hint))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def status_for(exc: SageError) -> int:
    """The HTTP status of an expected error."""
    return STATUS_OF_KIND[kind_of(exc)]


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:20]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "(body)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request does not match its model"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.kind, exc.message, exc.hint, headers)

    @app.exception_handler(SageError)
    async def _sage_error(_: Request, exc: SageError) -> JSONResponse:
        return error_response(status_for(exc), type(exc).__name__, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "RequestValidationError", _validation_message(exc), "see the request model in /openapi.json")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "HTTPException", str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The message may quote patient text: log the type and route only.
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response(503, "InternalError", "the server could not complete the request", "retry; if it persists, check the server log")
