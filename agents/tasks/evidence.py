"""Tool results inside a task step: typed while the step works, plain data once written to state.

``ctx.call_tool`` returns the tool's pydantic result. A step reads it by attribute
(``hits[0].similarity``, never ``h.get("similarity", h.get("score"))``) and turns it into
JSON only where it enters the run state, because the state is checkpointed as JSON. A later
step that reads evidence back from the state validates it into the same model
(:func:`load`), so a renamed field fails loudly instead of reading as a default.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def call(ctx: Any, tool: str, args: dict[str, Any], result: type[M]) -> M:
    """``ctx.call_tool(tool, args)`` as the tool's result model ``result``.

    Raises:
        TypeError: the tool answered with another model (a wrong ``result`` at the call site).
    """
    out = ctx.call_tool(tool, args)
    if isinstance(out, result):
        return out
    if isinstance(out, BaseModel):
        raise TypeError(f"tool {tool!r} returned {type(out).__name__}, the step expects {result.__name__}")
    return result.model_validate(out)


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as it is written to the run state (JSON types only)."""
    return model.model_dump(mode="json")


def dump_all(models: Iterable[BaseModel]) -> list[dict[str, Any]]:
    """:func:`dump` for each model, in order."""
    return [dump(m) for m in models]


def load(items: Iterable[Any], model: type[M]) -> list[M]:
    """Evidence read back from the state as ``model`` instances (models pass through)."""
    return [i if isinstance(i, model) else model.model_validate(i) for i in items]
