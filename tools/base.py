"""What a tool is: a pydantic argument model, a typed result with provenance, and a function.

Tools are defined once (:class:`ToolDefinition`) and registered in :data:`REGISTRY`; unknown
or duplicate names are rejected. Infrastructure arguments (settings, the caller, the access
filter) travel in :class:`ToolDeps`, which the governed invoker supplies: they are never part
of the argument schema a model sees, so a model cannot choose whose data it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import SageError
from core.settings import Settings

if TYPE_CHECKING:
    from tools.resources import Resources


class ToolError(SageError):
    """Base of tool failures a user can see."""


class UnknownToolError(ToolError):
    """No tool with that name is registered."""


class ToolDeniedError(ToolError):
    """Policy (role) or the calling agent's tool set does not allow this call."""


class ToolExecutionError(ToolError):
    """The tool ran and failed (a backend error, a missing table, a model that did not load)."""


class Provenance(BaseModel):
    """Where a result came from: the source, the ids it cites, and when it was produced."""

    source: str = Field(description="System that answered, e.g. 'qdrant:cases', 'duckdb:raw', 'zoo:smollm2-135m'.")
    ids: list[str] = Field(default_factory=list, description="Ids of the records the result is built from.")
    feedback_events: list[str] = Field(default_factory=list, description="Clinician feedback events behind those records' current labels (a run's trace links its output to them).")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC), description="UTC time the result was produced.")


class ToolResult(BaseModel):
    """Base of every tool result."""

    provenance: Provenance

    @property
    def best_similarity(self) -> float | None:
        """For retrieval results, the strongest similarity found (None for other tools)."""
        return None


@dataclass(kw_only=True)
class ToolDeps:
    """Injected infrastructure for one governed call (never chosen by a model)."""

    settings: Settings
    user: str
    role: str
    purpose: str = ""  # required in practice: an empty purpose is denied by every gate
    agent: str = "cli"
    run_id: str | None = None
    thread_id: str | None = None
    model: str | None = None
    adapter: str | None = None
    max_new_tokens: int | None = None  # the caller's budget override for generate_text
    site: str | None = None  # the site the caller acts for (None: the installation's SAGE_SITE)
    access: dict[str, Any] = field(default_factory=dict)  # forced SearchFilter fields from policy
    sql_scope: dict[str, Any] = field(default_factory=dict)  # check_read_only kwargs from policy
    resources: Resources = field(default=None)  # type: ignore[assignment]  # the installation's backends
    outside: Any = None  # tools.mcp_client.OutsideToolSource: the run's granted outside MCP tools

    def __post_init__(self) -> None:
        if self.resources is None:
            from tools.resources import Resources

            self.resources = Resources.for_settings(self.settings)

    def policy_caller(self) -> Any:
        """The caller as the policy engine sees it."""
        from policies.engine import Caller

        return Caller(user=self.user, role=self.role, purpose=self.purpose)


ToolFn = Callable[[ToolDeps, Any], ToolResult]


@dataclass(frozen=True, kw_only=True)
class ToolDefinition:
    """A registered tool: name, description for models, argument model, result model, function."""

    name: str
    description: str
    args_model: type[BaseModel]
    result_model: type[ToolResult]
    run: ToolFn
    writes: bool = False  # a tool with side effects (none today: labels change only through the feedback loop)


REGISTRY: dict[str, ToolDefinition] = {}


def register_tool(definition: ToolDefinition) -> ToolDefinition:
    """Add a tool; a duplicate name is a programming error."""
    if definition.name in REGISTRY:
        raise ValueError(f"tool {definition.name!r} is already registered")
    REGISTRY[definition.name] = definition
    return definition
