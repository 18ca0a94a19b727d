"""What the free-text router decides, as typed values, and which request texts it refuses to read.

A routing decision names the task (one of :data:`ROUTABLE_TASKS`), the ordered steps when one
turn asks for several things, the tools each step is expected to call, how the decision was
made (a rule, the classifier, the thread's context or a slash command) and why. It is a
pydantic model so the planner, ``sagehealth plan`` and the evaluation all read the same thing.

Bad input is an error, not a route: an empty, huge or binary request is refused with a message
that says what to send instead (:func:`check_request_text`), because guessing a task for it
would be worse than asking for a usable request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.errors import SageError

TaskName = Literal[
    "report", "differential", "cohort", "interactions", "search", "feedback", "answer", "clarify", "decline"
]
ROUTABLE_TASKS: tuple[str, ...] = (
    "report",
    "differential",
    "cohort",
    "interactions",
    "search",
    "feedback",
    "answer",
    "clarify",
    "decline",
)
DeclineKind = Literal["identifiers", "injection", "harmful", "out_of_scope"]
Method = Literal["command", "rules", "context", "classifier", "embedding"]

MAX_REQUEST_CHARS = 4000  # longer texts are documents, not requests: send them as task input instead
MAX_CONTROL_SHARE = 0.05  # more control characters than this and the text is binary, not typed


class RequestTextError(SageError):
    """The request text cannot be routed (empty, too long, or binary)."""


class RoutedStep(BaseModel):
    """One step of a (possibly multi-intent) turn: the task, the part of the text it serves, its tools."""

    task: TaskName
    text: str
    tools: list[str] = Field(default_factory=list)


class RoutingDecision(BaseModel):
    """Which task serves a request, how that was decided, and with what confidence."""

    task: TaskName = Field(
        description="The first (or only) step's task; 'decline' if any step must be declined."
    )
    steps: list[RoutedStep] = Field(min_length=1)
    method: Method
    confidence: float = Field(
        ge=0.0, le=1.0, description="Classifier probability of the chosen task (1.0 for a rule)."
    )
    reason: str
    decline_kind: DeclineKind | None = None
    scores: dict[str, float] = Field(
        default_factory=dict, description="Classifier probability per task (empty for rules)."
    )

    @property
    def tools(self) -> list[str]:
        """Tools of all steps, in order, without repeats."""
        return list(dict.fromkeys(t for s in self.steps for t in s.tools))


def check_request_text(text: object) -> str:
    """The request text, stripped; raises :class:`RequestTextError` for what cannot be a request."""
    if isinstance(text, bytes | bytearray):
        raise RequestTextError("the request is binary data, not text", hint="send the request as plain text")
    if not isinstance(text, str):
        raise RequestTextError(
            f"the request must be text, got {type(text).__name__}", hint="send the request as plain text"
        )
    stripped = text.strip()
    if not stripped:
        raise RequestTextError(
            "the request is empty", hint='ask e.g. "ddx for new unilateral hilar enlargement"'
        )
    if len(stripped) > MAX_REQUEST_CHARS:
        raise RequestTextError(
            f"the request is {len(stripped)} characters long (at most {MAX_REQUEST_CHARS})",
            hint="send long report text as task input, e.g. `sagehealth run report --input findings.json`",
        )
    control = sum(1 for ch in stripped if (ord(ch) < 32 and ch not in "\n\r\t") or ch == "\ufffd")
    if "\x00" in stripped or control / len(stripped) > MAX_CONTROL_SHARE:
        raise RequestTextError(
            "the request looks like binary data (control characters)", hint="send the request as plain text"
        )
    return stripped
