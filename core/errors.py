"""Base exception: every error a user can see says what went wrong and how to fix it."""

from __future__ import annotations


class SageError(Exception):
    """Base class for expected, user-facing failures.

    Args:
        message: What went wrong, naming the file, field, id or service involved.
        hint: What the user can do about it (a command to run, a setting to change).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
