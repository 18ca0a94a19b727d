"""Clinical tasks (report drafting, differential, cohort queries, drug checks) as task specs."""

from agents.tasks.base import (
    REGISTRY,
    TaskContext,
    TaskSpec,
    UnknownTaskError,
    all_tasks,
    get_task,
    register_task,
)

__all__ = ["REGISTRY", "TaskContext", "TaskSpec", "UnknownTaskError", "all_tasks", "get_task", "register_task"]
