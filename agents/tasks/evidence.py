"""Tool results as plain data: what task steps keep in evidence and drafts (JSON in the checkpoint).

``ctx.call_tool`` returns a pydantic tool result in the governed graph and may return a dict
from a test context; steps read both the same way through :func:`as_dict`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python


def as_dict(result: Any) -> dict[str, Any]:
    """A tool result (pydantic model or mapping) as a JSON-able dict."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    data = to_jsonable_python(result)
    if not isinstance(data, dict):
        raise TypeError(f"tool returned {type(result).__name__}, expected an object")
    return data


def call(ctx: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """``ctx.call_tool`` with the result as a dict."""
    return as_dict(ctx.call_tool(tool, args))
