"""Scrub PHI from what is about to be logged: audit entries, trace span attributes, error messages.

Audit logs and traces are append-only and widely read, so nothing may reach them unredacted,
including on error paths where the raw input is at hand ("failed on 'Alice Wong, M12345678'").
These helpers redact every string of a JSON-like value before it is written; numbers, booleans
and keys (field names are not PHI) pass unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Redacts(Protocol):
    def redact(self, text: str) -> Any: ...  # noqa: D102 - a Redactor or anything with .redact(text).text


def scrub(value: Any, redactor: _Redacts, max_chars: int = 4000) -> Any:
    """``value`` with every string redacted (dicts and lists walked; long strings cut to ``max_chars`` first)."""
    if isinstance(value, str):
        return redactor.redact(value[:max_chars]).text if value.strip() else value
    if isinstance(value, dict):
        return {k: scrub(v, redactor, max_chars) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, redactor, max_chars) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value), redactor, max_chars)


def scrub_error(exc: BaseException, redactor: _Redacts) -> str:
    """``"TypeName: message"`` with the message redacted (exceptions often quote their input)."""
    return f"{type(exc).__name__}: {scrub(str(exc), redactor)}"
