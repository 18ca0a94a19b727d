"""Checkpointers: SQLite by default, Postgres by configuration, in-memory for tests.

Every run is checkpointed per thread after each step, so a run survives a crash (resume on the
same thread re-runs only the interrupted node) and can wait for a human reviewer for days.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver

from core.errors import SageError
from tools.resources import Resources


class CheckpointerError(SageError):
    """The configured checkpointer cannot be opened."""


@contextmanager
def open_checkpointer(resources: Resources) -> Iterator[BaseCheckpointSaver]:
    """Open the checkpointer named by ``settings.checkpointer`` for the duration of a run."""
    settings = resources.settings
    kind = settings.checkpointer
    if kind == "memory":
        # One saver per installation and process (on Resources), so a resume in the same process finds the thread.
        yield resources.memory_saver
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        settings.checkpoints_path.parent.mkdir(parents=True, exist_ok=True)
        with SqliteSaver.from_conn_string(str(settings.checkpoints_path)) as saver:
            yield saver
    elif kind == "postgres":
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError as exc:
            raise CheckpointerError("checkpointer=postgres needs langgraph-checkpoint-postgres", hint="pip install 'sagehealth[postgres]'") from exc
        if settings.postgres_dsn is None:
            raise CheckpointerError("checkpointer=postgres but SAGE_POSTGRES_DSN is not set", hint="export SAGE_POSTGRES_DSN=postgresql://user:pass@host/db")
        with PostgresSaver.from_conn_string(settings.postgres_dsn.get_secret_value()) as saver:
            saver.setup()
            yield saver
    else:  # pragma: no cover - Settings validates the literal
        raise CheckpointerError(f"unknown checkpointer {kind!r}", hint="SAGE_CHECKPOINTER is one of sqlite, postgres, memory")
