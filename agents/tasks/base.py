"""What a clinical task is, independent of how the graph runs it.

A :class:`TaskSpec` names the task, describes it (the planner routes free text by embedding
similarity to these descriptions), validates its input with a pydantic model, and provides
three step functions, one per worker agent:

- ``retrieve`` (data agent): gather evidence through tools (similar cases, records, SQL);
- ``generate`` (model agent): call a model if the task needs one, or return ``None``;
- ``compose`` (task agent): build the typed clinical output with its citations.

Step functions reach data and models only through ``ctx.call_tool(name, args)``: the graph
supplies a context that checks policy, records an ``execute_tool`` span and audits each call,
so a task module never touches the lakehouse or a model directly (one exception: the report
task embeds a query image with ``ctx.resources.image_encoder``, a local,
data-free computation). Tasks register themselves
in :data:`REGISTRY` (unknown or duplicate names are rejected), and tests are parametrized over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from core.errors import SageError
from core.settings import Settings


class UnknownTaskError(SageError):
    """The requested task is not registered."""


class TaskInputError(SageError):
    """The request input does not match the task's input model (or names nothing it needs)."""


class TaskContext(Protocol):
    """What a step function may use: governed tool calls, the caller's identity and the settings.

    ``settings`` is read-only installation configuration; ``resources`` gives the report task
    the installation's image encoder to embed a query image (the one in-process model a step
    uses). Data, and every other model, are reached through ``call_tool``.
    """

    user: str
    role: str
    purpose: str
    settings: Settings
    resources: Any

    def call_tool(self, name: str, args: dict[str, Any]) -> Any:
        """Run tool ``name`` with ``args`` (validated by the tool's schema) under policy and tracing."""

    def outside_tools(self) -> dict[str, dict[str, Any]]:
        """Outside MCP tools granted to this step by name (``mcp:<server>:<tool>`` -> description, schema)."""


RetrieveFn = Callable[[TaskContext, BaseModel], dict[str, Any]]
GenerateFn = Callable[[TaskContext, BaseModel, dict[str, Any]], dict[str, Any] | None]
ComposeFn = Callable[[TaskContext, BaseModel, dict[str, Any], dict[str, Any] | None], BaseModel]


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """A clinical task the planner can route to.

    Attributes:
        name: Registry key and CLI name (``sagehealth run NAME``).
        description: One or two sentences of what it answers; used for free-text routing.
        input_model: Validates the request before any agent runs.
        output_model: The typed result ``compose`` returns.
        retrieve: Data-agent step; returns evidence (JSON-able dict, with ``ids`` of cited records).
        generate: Model-agent step, or ``None`` when the task needs no model.
        compose: Task-agent step; returns an ``output_model`` instance.
        tools: Tool names the task's steps call (the planner lists them in the plan).
        examples: Example requests (more routing signal).
    """

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    retrieve: RetrieveFn
    compose: ComposeFn
    generate: GenerateFn | None = None
    tools: tuple[str, ...] = ()
    examples: tuple[str, ...] = field(default_factory=tuple)


REGISTRY: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry; a duplicate name is a programming error."""
    if spec.name in REGISTRY:
        raise ValueError(f"task {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    """The registered task called ``name``, or a clear error listing the known ones."""
    load_builtin_tasks()
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}", hint=f"known tasks: {', '.join(sorted(REGISTRY))}") from None


def all_tasks() -> list[TaskSpec]:
    """Every registered task, built-ins included."""
    load_builtin_tasks()
    return list(REGISTRY.values())


BUILTIN_TASK_MODULES = (
    "agents.tasks.report",
    "agents.tasks.differential",
    "agents.tasks.cohort",
    "agents.tasks.interactions",
    "agents.tasks.search",
    "agents.tasks.feedback",
    "agents.tasks.answer",
    "agents.tasks.conversation",
)


def load_builtin_tasks() -> None:
    """Import the built-in task modules (each registers itself once on import)."""
    import importlib

    for module in BUILTIN_TASK_MODULES:
        importlib.import_module(module)
