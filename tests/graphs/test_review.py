"""Human review: a run pauses with interrupt(), is listed, and resumes with the reviewer's decision."""

from __future__ import annotations

from core.settings import Settings
from graphs.runner import paused_runs, resume_run, run_task

UNCERTAIN = "Possible small right pleural effusion. Heart size normal."


def _paused(settings: Settings, probe: str):
    result = run_task(settings, probe, {"findings": UNCERTAIN}, "dr-b", "clinician")
    assert result.status == "review", result
    assert any("uncertain" in r for r in result.review["reasons"])
    return result


def test_review_pauses_lists_and_approve_finishes(settings: Settings, probe: str) -> None:
    paused = _paused(settings, probe)
    assert paused.thread_id in {r.thread_id for r in paused_runs(settings)}

    done = resume_run(settings, paused.thread_id, {"action": "approve", "reviewer": "dr-lee", "note": "ok"})
    assert done.status == "done" and done.run_id == paused.run_id
    assert done.policy_decisions[-1]["stage"] == "review" and "dr-lee" in done.policy_decisions[-1]["reason"]
    assert paused.thread_id not in {r.thread_id for r in paused_runs(settings)}


def test_review_edit_and_reject(settings: Settings, probe: str) -> None:
    edited = resume_run(settings, _paused(settings, probe).thread_id, {"action": "edit", "reviewer": "dr-lee", "output": {"impression": "Small right effusion."}})
    assert edited.status == "done" and edited.output["impression"] == "Small right effusion."

    rejected = resume_run(settings, _paused(settings, probe).thread_id, {"action": "reject", "reviewer": "dr-lee", "note": "wrong side"})
    assert rejected.status == "denied" and rejected.output is None and "wrong side" in rejected.error["message"]
