"""Shared plumbing of the three worker agents: the task spec and validated input of a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from agents.tasks.base import TaskSpec, get_task


def task_and_input(state: Mapping[str, Any]) -> tuple[TaskSpec, BaseModel]:
    """The run's task spec and its input, validated again (the checkpoint stores plain JSON)."""
    spec = get_task(state["request"]["task"])
    return spec, spec.input_model.model_validate(state["request"]["input"])


def jsonable(value: Any) -> Any:
    """Plain JSON data for the checkpoint (pydantic models, datetimes, tuples converted)."""
    return to_jsonable_python(value)
