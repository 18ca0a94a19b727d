"""Human review: a run pauses with interrupt(), is listed, and resumes with the reviewer's decision.

Only roles the pack grants ``review`` may decide (checked and audited before the run resumes),
and a reviewer's edit is checked for PHI like a model's output.
"""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from core.settings import Settings
from graphs.runner import paused_runs, resume_run, run_task
from policies.audit import AuditLog
from tools.governed import ActionDeniedError

UNCERTAIN = "Possible small right pleural effusion. Heart size normal."
CLINICIAN = {"reviewer": "dr-lee", "role": "clinician", "purpose": "treatment"}


def _paused(settings: Settings, probe: str):
    result = run_task(settings, probe, {"findings": UNCERTAIN}, "dr-b", "clinician")
    assert result.status == "review", result
    assert any("uncertain" in r for r in result.review["reasons"])
    return result


def test_review_pauses_lists_and_approve_finishes(settings: Settings, probe: str) -> None:
    paused = _paused(settings, probe)
    assert paused.thread_id in {r.thread_id for r in paused_runs(settings)}

    done = resume_run(settings, paused.thread_id, {"action": "approve", **CLINICIAN, "note": "ok"})
    assert done.status == "done" and done.run_id == paused.run_id
    assert done.policy_decisions[-1]["stage"] == "review" and "dr-lee" in done.policy_decisions[-1]["reason"]
    assert paused.thread_id not in {r.thread_id for r in paused_runs(settings)}


def test_review_edit_and_reject(settings: Settings, probe: str) -> None:
    edited = resume_run(settings, _paused(settings, probe).thread_id, {"action": "edit", **CLINICIAN, "output": {"impression": "Small right effusion."}})
    assert edited.status == "done" and edited.output["impression"] == "Small right effusion."
    assert not any(d["effect"] == "redact" and d["stage"] == "review" for d in edited.policy_decisions)

    rejected = resume_run(settings, _paused(settings, probe).thread_id, {"action": "reject", **CLINICIAN, "note": "wrong side"})
    assert rejected.status == "denied" and rejected.output is None and "wrong side" in rejected.error["message"]


@pytest.mark.parametrize("decision", [
    {"action": "approve", "reviewer": "res-1", "role": "researcher", "purpose": "research"},
    {"action": "approve", "reviewer": "aud-1", "role": "auditor", "purpose": "audit"},
    {"action": "edit", "reviewer": "anon", "output": {"impression": "Normal."}},  # no role at all: fail closed
])
def test_roles_without_review_cannot_decide_and_the_run_stays_paused(settings: Settings, probe: str, decision: dict) -> None:
    paused = _paused(settings, probe)
    with pytest.raises(ActionDeniedError, match="may not review"):
        resume_run(settings, paused.thread_id, decision)
    assert paused.thread_id in {r.thread_id for r in paused_runs(settings)}, "a denied decision changes nothing"
    last = AuditLog(settings.audit_path).entries()[-1]
    assert (last.actor, last.action, last.resource, last.decision, last.run_id) == (decision["reviewer"], f"review:{decision['action']}", paused.thread_id, "deny", paused.run_id)

    done = resume_run(settings, paused.thread_id, {"action": "approve", "reviewer": "dr-rad", "role": "radiologist", "purpose": "labeling"})
    assert done.status == "done"
    last = AuditLog(settings.audit_path).entries()
    assert any((e.actor, e.action, e.decision) == ("dr-rad", "review:approve", "allow") for e in last)


def test_an_edit_with_identifiers_is_redacted(settings: Settings, probe: str) -> None:
    edit = {"impression": "Small right effusion. Discussed with John Smith at (317) 555-0143."}
    done = resume_run(settings, _paused(settings, probe).thread_id, {"action": "edit", **CLINICIAN, "output": edit, "note": "called John Smith"})
    assert done.status == "done"
    impression = done.output["impression"]
    assert "555-0143" not in impression and "John Smith" not in impression and impression.startswith("Small right effusion.")
    redact = [d for d in done.policy_decisions if d["stage"] == "review" and d["effect"] == "redact"]
    assert len(redact) == 1 and "impression" in redact[0]["reason"] and "PHONE" in redact[0]["reason"]
    assert "John Smith" not in json.dumps(done.policy_decisions), "the reviewer's note is redacted too"


@pytest.fixture
def review_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    from app.commands import review

    monkeypatch.setenv("SAGE_HOME", str(settings.home))
    monkeypatch.setenv("SAGE_CHECKPOINTER", "sqlite")
    app = typer.Typer()
    review.register(app)
    return app


def test_review_commands_check_the_callers_role(review_cli: typer.Typer, settings: Settings, probe: str) -> None:
    paused = _paused(settings, probe)
    before = len(AuditLog(settings.audit_path).entries())

    def invoke(*args: str) -> tuple[int, dict | list]:
        result = CliRunner().invoke(review_cli, ["review", *args, "--json"])
        return result.exit_code, json.loads(result.stdout)

    for args in (["list"], ["show", paused.thread_id], ["approve", paused.thread_id]):
        code, out = invoke(*args, "--user", "res-1", "--role", "researcher", "--purpose", "research")
        assert code == 1 and "researcher" in out["error"], args
    code, listed = invoke("list", "--user", "dr-lee", "--role", "clinician")
    assert code == 0 and paused.thread_id in {r["thread_id"] for r in listed}
    code, done = invoke("approve", paused.thread_id, "--user", "dr-lee", "--role", "clinician", "--note", "agree")
    assert code == 0 and done["status"] == "done"
    reviews = [(e.actor, e.action, e.decision) for e in AuditLog(settings.audit_path).entries()[before:] if e.action.startswith("review:")]
    assert reviews == [("res-1", "review:list", "deny"), ("res-1", "review:show", "deny"), ("res-1", "review:approve", "deny"),
                       ("dr-lee", "review:list", "allow"), ("dr-lee", "review:approve", "allow")]
