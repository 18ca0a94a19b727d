"""Examples at the end of every ``--help``, taken from the command modules' own docstrings.

Each module in ``app/commands`` documents its commands with example lines (``Examples::``,
then ``sagehealth keys create ...``). Rather than keep a second copy in every command's help,
:func:`add_examples` gives each command the docstring lines that start with its own path
(``sagehealth keys create``), and each group those of its commands. So an example is written
once, where the command is, and ``tests/app/test_help_examples.py`` fails for a command that
has none.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import typer
from typer.models import CommandInfo, DefaultPlaceholder


def _name(info: CommandInfo) -> str:
    if info.name:
        return info.name
    return (info.callback.__name__ if info.callback else "").lower().replace("_", "-")


def _docstring_lines(callback: object) -> list[str]:
    module = sys.modules.get(getattr(callback, "__module__", ""), None)
    return [line.strip() for line in (getattr(module, "__doc__", None) or "").splitlines()]


def _commands(app: typer.Typer, prefix: str) -> Iterator[tuple[str, CommandInfo]]:
    for info in app.registered_commands:
        yield f"{prefix} {_name(info)}", info
    for group in app.registered_groups:
        name = group.name if not isinstance(group.name, DefaultPlaceholder) else None
        if group.typer_instance is not None and name:
            yield from _commands(group.typer_instance, f"{prefix} {name}")


def examples_for(app: typer.Typer, path: str, prefix: str = "sagehealth") -> list[str]:
    """Docstring example lines of the commands under ``app`` that start with ``path`` (one command or a group)."""
    found: list[str] = []
    for _, info in _commands(app, prefix):
        for line in _docstring_lines(info.callback):
            if (line == path or line.startswith(path + " ")) and line not in found:
                found.append(line)
    return found


def _epilog(lines: list[str]) -> str:
    # typer's rich help prints an epilog's paragraphs (blank-line separated) one per line
    return "\n\n".join(["Examples:" if len(lines) > 1 else "Example:", *lines])


def add_examples(app: typer.Typer, prefix: str = "sagehealth") -> None:
    """Set the epilog of every command and group of ``app`` (that has none) to its examples."""
    for path, info in _commands(app, prefix):
        if info.epilog is None and (lines := examples_for(app, path, prefix)):
            info.epilog = _epilog(lines)
    for group in app.registered_groups:
        name = group.name if not isinstance(group.name, DefaultPlaceholder) else None
        if group.typer_instance is not None and name and isinstance(group.epilog, DefaultPlaceholder | type(None)):
            if lines := examples_for(app, f"{prefix} {name}", prefix):
                group.epilog = _epilog(lines[:4])
