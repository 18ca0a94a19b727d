"""Task "feedback": a clinician's correction or rating typed in chat, handed to the feedback loop.

Corrections must not be lost silently, and must not be applied by a router's guess either: a
label change is a clinician's correction that needs the case, the finding and the new state
confirmed, and only the feedback loop records one (``services.feedback``; there is no
label-writing tool an agent could call). So this task applies nothing: it echoes what it
understood (case id, findings named, new state) and hands over to the loop with the exact
``sagehealth feedback`` command that records it (versioned, propagated, audited), filled in with
what it understood.
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
    recorded: bool = Field(False, description="Always false: chat never applies a correction by itself.")
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
    sets = " ".join(f"--set {f}={state or 'STATE'}" for f in findings) or "--set FINDING=STATE"
    command = f"{FEEDBACK_COMMAND} {case_id or 'CASE'} {sets} --reason \"...\""
    answer = (
        "Nothing was changed yet: a label correction is confirmed explicitly, then versioned, propagated to similar cases and audited. "
        f"To record it: `{command}`." + (f" I understood: {understood}." if understood else "")
    )
    return FeedbackReceipt(answer=answer, case_id=case_id, findings=findings, state=state, command=command)


SPEC = register_task(
    TaskSpec(
        name="feedback",
        description="Take a clinician's correction of a label or rating of an answer (echoes it and gives the feedback command that records it).",
        input_model=FeedbackInput,
        output_model=FeedbackReceipt,
        retrieve=retrieve,
        compose=compose,
        examples=("the cardiomegaly label on report 880 is wrong", "mark edema as absent on case 12", "that ddx was bad, thumbs down"),
    )
)
