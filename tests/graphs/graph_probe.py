"""A small task registered only by graph tests (and their subprocesses), to drive the graph's
mechanics (review, crash, failure) independently of the built-in tasks' logic.

It is a real TaskSpec: its steps call real tools through the governed context.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.base import REGISTRY, TaskSpec, register_task

PROBE = "probe_report"


class ProbeInput(BaseModel):
    findings: str = Field(min_length=3)
    k: int = 2


class ProbeOutput(BaseModel):
    impression: str
    citations: list[str]
    uncertain: list[str] = Field(default_factory=list)


def _retrieve(ctx: Any, task_input: Any) -> dict[str, Any]:
    hits = ctx.call_tool("retrieve_similar_cases", {"findings": task_input.findings, "k": task_input.k})
    return {"ids": hits.provenance.ids, "hits": hits.hits}


def _generate(ctx: Any, task_input: Any, evidence: dict[str, Any]) -> dict[str, Any]:
    out = ctx.call_tool("generate_text", {"messages": [{"role": "user", "content": f"Findings: {task_input.findings}\nImpression:"}], "max_new_tokens": 8})
    return {"text": out.text}


def _compose(ctx: Any, task_input: Any, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> ProbeOutput:
    labels = ctx.call_tool("label_findings", {"text": task_input.findings})
    return ProbeOutput(impression=(drafts or {}).get("text", ""), citations=list(evidence["ids"]), uncertain=labels.uncertain)


def caller(user: str, role: str, purpose: str = "treatment") -> Any:
    """A service caller (``policies.engine.Caller``)."""
    from services.base import Caller

    return Caller(user=user, role=role, purpose=purpose)


def run_as(settings: Any, task: str, task_input: dict[str, Any], user: str, role: str, purpose: str = "treatment", **options: Any) -> Any:
    """``services.runs.run_task`` for a caller on the installation of ``settings``."""
    from services.runs import RunRequest, run_task
    from tools.resources import Resources

    return run_task(Resources.for_settings(settings), caller(user, role, purpose), RunRequest(task=task, input=task_input, **options))


def decide_as(settings: Any, thread_id: str, action: str, user: str, role: str, purpose: str = "treatment", **fields: Any) -> Any:
    """``services.reviews.decide``: a reviewer's answer to a paused run."""
    from services.reviews import ReviewDecision, decide
    from tools.resources import Resources

    return decide(Resources.for_settings(settings), caller(user, role, purpose), ReviewDecision(thread_id=thread_id, action=action, **fields))  # type: ignore[arg-type]


def register_probe() -> TaskSpec:
    """Register the probe task once per process."""
    if PROBE in REGISTRY:
        return REGISTRY[PROBE]
    return register_task(
        TaskSpec(
            name=PROBE,
            description="Test probe: retrieve similar chest x-ray cases, draft a short impression, label it.",
            input_model=ProbeInput,
            output_model=ProbeOutput,
            retrieve=_retrieve,
            generate=_generate,
            compose=_compose,
            tools=("retrieve_similar_cases", "generate_text", "label_findings"),
        )
    )


if __name__ == "__main__":  # used by the crash-recovery test: run one probe task in a subprocess
    import json
    import sys

    from core.settings import Settings

    settings = Settings(home=sys.argv[1], checkpointer="sqlite")
    register_probe()
    result = run_as(settings, PROBE, {"findings": "Small right pleural effusion."}, "dr-probe", "clinician", thread_id=sys.argv[2])
    print(json.dumps(result.model_dump(mode="json")))
