"""Checks an entry point makes before it queues work: is the task known and its input valid.

The HTTP API answers a run request at once and runs it later in a worker; an unknown task or a
bad input found only in the worker would surface as a failed job instead of a 4xx on the
request. These are the same checks ``services.runs.run_task`` makes first, with no side effect
(no audit event, no span: nothing was attempted yet).
"""

from __future__ import annotations

from agents.planner import validate_input
from agents.tasks.base import REGISTRY, get_task, load_builtin_tasks
from services.runs import RunRequest


def check_run(request: RunRequest) -> None:
    """Raise UnknownTaskError or TaskInputError now, before the run is queued."""
    validate_input(get_task(request.task), request.input)


def task_names() -> list[str]:
    """The registered clinical task names (for forms and error hints)."""
    load_builtin_tasks()
    return sorted(REGISTRY)
