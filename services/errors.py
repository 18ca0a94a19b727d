"""What kind of failure an error is, for entry points that answer with status codes (HTTP, MCP).

Entry points may import only ``services`` and ``core``, so they cannot name the tool, graph or
lakehouse error classes; this module does, once, and sorts every expected error into a kind.
Unknown ``SageError`` subclasses count as ``invalid`` (the request could not be served as
asked) rather than as a server fault: every ``SageError`` carries a message meant for the caller.
"""

from __future__ import annotations

from typing import Literal

from agents.tasks.base import TaskInputError, UnknownTaskError
from core.errors import SageError
from graphs.runner import RunNotFoundError
from graphs.telemetry import TraceNotFoundError
from lakehouse.feedback import ReviewItemNotFoundError, ReviewRefusedError
from policies.engine import PolicyDeniedError
from services.base import CallerError, RequestError
from services.cases import CaseNotFoundError
from tools.base import ToolDeniedError, ToolExecutionError

Kind = Literal["unauthenticated", "denied", "not_found", "invalid", "unavailable"]

_KINDS: tuple[tuple[tuple[type[BaseException], ...], Kind], ...] = (
    ((CallerError,), "unauthenticated"),
    ((ToolDeniedError, PolicyDeniedError, ReviewRefusedError), "denied"),
    ((RunNotFoundError, TraceNotFoundError, CaseNotFoundError, UnknownTaskError, ReviewItemNotFoundError), "not_found"),
    ((RequestError, TaskInputError), "invalid"),
    ((ToolExecutionError,), "unavailable"),
)


def kind_of(exc: SageError) -> Kind:
    """The kind of an expected error (the first matching class wins; default ``invalid``)."""
    for classes, kind in _KINDS:
        if isinstance(exc, classes):
            return kind
    return "invalid"
