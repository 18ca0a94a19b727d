"""Task "feedback": a clinician's correction or rating, until the feedback loop exists a clear "not yet".

Corrections must not be lost silently, and must not be applied by a router's guess either: a
label change is a governed write (``update_labels``) that needs the case, the finding and the
new state confirmed. Until the feedback loop ships, this task says so, echoes what it understood
(case id, findings named) so nothing has to be retyped, and names the command to use.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.base import TaskContext, TaskSpec, register_task
from agents.tasks.mentions import case_id_in, findings_in

FEEDBACK_COMMAND = "sagehealth feedback"
_STATE = re.compile(r"\b(present|absent|uncertain)\b", re.IGNORECASE)


class FeedbackInput(BaseModel):
    """A correction or rating in the clinician's words."""

    text: str = Field(min_length=2, max_length=2000, description="The feedback as typed, e.g. 'the cardiomegaly label on report 880 is wrong'.")


class FeedbackReceipt(BaseModel):
    """What was understood, and that nothing was changed yet."""

    answer: str
    case_id: str | None
    findings: list[str]
    state: str | None
    recorded: bool = Field(False, description="Always false until the feedback loop exists.")
    command: str = FEEDBACK_COMMAND


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Nothing to read: the receipt is built from the text alone."""
    return {"ids": []}


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> FeedbackReceipt:
    """Say "not yet", with the case and findings understood and the command to use."""
    assert isinstance(task, FeedbackInput)
    case_id = case_id_in(task.text)
    findings = findings_in(task.text)
    state = (m.group(1).lower() if (m := _STATE.search(task.text)) else None)
    understood = ", ".join(x for x in (f"case {case_id}" if case_id else "", ", ".join(findings), f"-> {state}" if state else "") if x)
    answer = (
        "Feedback is not recorded from chat yet: nothing was changed. "
        f"Use `{FEEDBACK_COMMAND}` once it is available (it will ask for the case, the finding and the new state, and audit the change)."
        + (f" I understood: {understood}." if understood else "")
    )
    return FeedbackReceipt(answer=answer, case_id=case_id, findings=findings, state=state)


SPEC = register_task(
    TaskSpec(
        name="feedback",
        description="Take a clinician's correction of a label or rating of an answer (not recorded yet: says so and names the command).",
        input_model=FeedbackInput,
        output_model=FeedbackReceipt,
        retrieve=retrieve,
        compose=compose,
        examples=("the cardiomegaly label on report 880 is wrong", "mark edema as absent on case 12", "that ddx was bad, thumbs down"),
    )
)
