"""``DirectContext``: a TaskContext whose tools call the backing functions directly (no graph).

Task steps are tested here on the real lakehouse, labeler, knowledge tables and model; the
governed path (policy, audit, spans around the same calls) is covered by the graph tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.settings import Settings


class DirectContext:
    """Runs the registered tools' own functions as a clinician (treatment); records every call.

    The tools answer with their pydantic results, as in the graph; only the policy check,
    span and audit entry of ``tools.governed`` are left out.
    """

    user = "test-clinician"
    role = "clinician"
    purpose = "treatment"

    def __init__(self, settings: Settings) -> None:
        from tools.resources import Resources

        self.settings = settings
        self.resources = Resources.for_settings(settings)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call_tool(self, name: str, args: dict[str, Any]) -> Any:
        from tools.base import ToolDeps
        from tools.registry import get_tool

        self.calls.append((name, args))
        definition = get_tool(name)
        deps = ToolDeps(settings=self.settings, resources=self.resources, user=self.user, role=self.role, purpose=self.purpose, agent="test")
        return definition.run(deps, definition.args_model.model_validate(args))

    def outside_tools(self) -> dict[str, dict[str, Any]]:
        return {}  # no outside MCP tools outside the governed graph


@pytest.fixture
def direct(small_lakehouse: Settings) -> DirectContext:
    return DirectContext(small_lakehouse)
