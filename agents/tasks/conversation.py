"""Tasks "clarify" and "decline": the two replies that run no clinical tool.

``clarify`` asks one question back when a turn is too vague to route ("check it", "is it bad?"):
a guess would run a task the clinician did not ask for. ``decline`` says why a turn is refused
(patient identifiers without the right, an injection attempt, a harmful ask, or out of scope).
The router fills ``question``/``reason``; from text alone they fall back to a generic line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.base import TaskContext, TaskSpec, register_task

CLARIFY_QUESTION = (
    "What would you like me to do: draft a report impression, give a differential, answer a cohort question, "
    "check drug interactions, find similar cases, or explain an earlier answer? Please name the patient, case or drug."
)


class ClarifyInput(BaseModel):
    """A vague turn and the question to ask back."""

    text: str = Field(min_length=1, max_length=4000)
    question: str = Field(CLARIFY_QUESTION, max_length=500)


class Clarification(BaseModel):
    """One question back."""

    answer: str


class DeclineInput(BaseModel):
    """A refused turn and why."""

    text: str = Field(min_length=1, max_length=4000)
    reason: str = Field("it is not a clinical task this system serves", max_length=500)


class Declined(BaseModel):
    """The refusal with its reason."""

    answer: str
    reason: str


def _nothing(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    return {"ids": []}


def _clarify(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> Clarification:
    assert isinstance(task, ClarifyInput)
    return Clarification(answer=task.question)


def _decline(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> Declined:
    assert isinstance(task, DeclineInput)
    return Declined(answer=f"I can't help with that: {task.reason}.", reason=task.reason)


CLARIFY = register_task(
    TaskSpec(
        name="clarify",
        description="Ask one question back when a request is too vague to act on.",
        input_model=ClarifyInput,
        output_model=Clarification,
        retrieve=_nothing,
        compose=_clarify,
    )
)
DECLINE = register_task(
    TaskSpec(
        name="decline",
        description="Refuse a request that is out of scope or unsafe, with the reason.",
        input_model=DeclineInput,
        output_model=Declined,
        retrieve=_nothing,
        compose=_decline,
    )
)
