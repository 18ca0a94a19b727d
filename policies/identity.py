"""Who is asking: the caller model, and the checks that keep identity from defaulting into privilege.

Two models on purpose. :class:`Caller` takes whatever an entry point received, even an empty
role, so the policy engine can *deny* it with a reason (and the denial can be audited) instead
of crashing or filling in a default. :class:`VerifiedCaller` is for service boundaries: it
refuses an empty, padded or malformed user, role or purpose at construction (strict types,
unknown fields refused), so a request never reaches a graph with a half identity.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")  # roles, purposes and sites as packs name them
MAX_USER_CHARS = 128


class Caller(BaseModel):
    """Who is asking, in which role, for what purpose, at which site (from the run context, never from the model)."""

    user: str
    role: str
    purpose: str | None = Field(default=None, description="Declared purpose of use, e.g. 'treatment' or 'research'; required by every decision.")
    site: str | None = Field(default=None, description="Site the caller acts for, when a deployment holds several sites.")


def identity_problem(caller: Caller) -> str | None:
    """Why this caller cannot be decided on (empty, missing or malformed field), or ``None``.

    Used by the policy engine before any rule: a missing purpose is not "no restriction" and
    an empty role is not the default role.
    """
    for field in ("user", "role", "purpose"):
        value = getattr(caller, field)
        if value is None or not str(value).strip():
            return f"no {field} given"
        if value != value.strip():
            return f"{field} {value!r} has surrounding whitespace"
    if len(caller.user) > MAX_USER_CHARS:
        return f"user name longer than {MAX_USER_CHARS} characters"
    for field in ("role", "purpose"):
        value = getattr(caller, field)
        if not NAME_RE.match(value):
            return f"{field} {value!r} is not a valid name (lower-case letters, digits, '_', '-', '.')"
    if caller.site is not None and not NAME_RE.match(caller.site):
        return f"site {caller.site!r} is not a valid name"
    return None


class VerifiedCaller(Caller):
    """A caller checked at the boundary: non-empty, well-formed user, role and purpose; nothing else.

    Raises ``pydantic.ValidationError`` on construction otherwise. Whether the role and purpose
    are *allowed* is still the policy engine's decision (the active pack names the roles).
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    purpose: str = Field(description="Declared purpose of use; required.")

    @model_validator(mode="after")
    def _well_formed(self) -> VerifiedCaller:
        problem = identity_problem(self)
        if problem:
            raise ValueError(problem)
        return self
