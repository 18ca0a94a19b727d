"""Human review: a run pauses with interrupt(), is listed, and resumes with the reviewer's decision.

Only roles the pack grants ``review`` may decide (checked and audited before the run resumes,
and again inside the graph for any other door), the run resumes as the reviewer, and a
reviewer's edit is checked for PHI like a model's output.
"""

from __future__ import annotations

import json

import pytest
import typer
from graph_probe import caller, decide_as, run_as
from typer.testing import CliRunner

from core.settings import Settings
from graphs.runner import paused_runs, resume_run
from policies.audit import AuditLog
from services.base import CallerError
from tools.contract import Context
from tools.governed import ActionDeniedError
from tools.resources import Resources

UNCERTAIN = "Possible small right pleural effusion. Heart size normal."
CLINICIAN = ("dr-lee", "clinician", "treatment")


def _paused(settings: Settings, probe: str):
    result = run_as(settings, probe, {"findings": UNCERTAIN}, "dr-b", "clinician")
    assert result.status == "review", result
    assert any("uncertain" in r for r in result.review["reasons"])
    return result


def test_review_pauses_lists_and_approve_finishes(settings: Settings, probe: str) -> None:
    paused = _paused(settings, probe)
    assert paused.thread_id in {r.thread_id for r in paused_runs(Resources.for_settings(settings))}

    done = decide_as(settings, paused.thread_id, "approve", *CLINICIAN, note="ok")
    assert done.status == "done" and done.run_id == paused.run_id
    assert done.policy_decisions[-1]["stage"] == "review" and "dr-lee" in done.policy_decisions[-1]["reason"]
    assert paused.thread_id not in {r.thread_id for r in paused_runs(Resources.for_settings(settings))}


def test_review_edit_and_reject(settings: Settings, probe: str) -> None:
    edited = decide_as(settings, _paused(settings, probe).thread_id, "edit", *CLINICIAN, output={"impression": "Small right effusion."})
    assert edited.status == "done" and edited.output["impression"] == "Small right effusion."
    assert not any(d["effect"] == "redact" and d["stage"] == "review" for d in edited.policy_decisions)

    rejected = decide_as(settings, _paused(settings, probe).thread_id, "reject", *CLINICIAN, note="wrong side")
    assert rejected.status == "denied" and rejected.output is None and "wrong side" in rejected.error["message"]


@pytest.mark.parametrize(("action", "who"), [
    ("approve", ("res-1", "researcher", "research")),
    ("approve", ("aud-1", "auditor", "audit")),
    ("edit", ("anon", "janitor", "treatment")),  # a role the pack does not know: fail closed
])
def test_roles_without_review_cannot_decide_and_the_run_stays_paused(settings: Settings, probe: str, action: str, who: tuple[str, str, str]) -> None:
    paused = _paused(settings, probe)
    resources = Resources.for_settings(settings)
    with pytest.raises(ActionDeniedError, match="may not review"):
        decide_as(settings, paused.thread_id, action, *who, **({"output": {"impression": "Normal."}} if action == "edit" else {}))
    assert paused.thread_id in {r.thread_id for r in paused_runs(resources)}, "a denied decision changes nothing"
    last = AuditLog(settings.audit_path).entries()[-1]
    assert (last.actor, last.action, last.resource, last.decision, last.run_id) == (who[0], f"review:{action}", paused.thread_id, "deny", paused.run_id)

    done = decide_as(settings, paused.thread_id, "approve", "dr-rad", "radiologist", "labeling")
    assert done.status == "done"
    last = AuditLog(settings.audit_path).entries()
    assert any((e.actor, e.action, e.decision) == ("dr-rad", "review:approve", "allow") for e in last)


def test_a_reviewer_without_identity_is_refused_before_anything(settings: Settings, probe: str) -> None:
    paused = _paused(settings, probe)
    with pytest.raises(CallerError):
        decide_as(settings, paused.thread_id, "approve", "anon", "", "treatment")
    with pytest.raises(CallerError):
        decide_as(settings, paused.thread_id, "approve", "dr-lee", "clinician", "")


def test_the_graph_itself_refuses_a_resume_by_a_caller_without_review(settings: Settings, probe: str) -> None:
    """Any door that resumes the graph directly (``langgraph dev``, the SDK) meets the in-graph gate."""
    paused = _paused(settings, probe)
    resources = Resources.for_settings(settings)
    intruder = Context(user="res-1", role="researcher", purpose="research", settings=settings, resources=resources)
    still = resume_run(resources, intruder, paused.thread_id, {"action": "approve"})
    assert still.status == "review" and still.review, "the intruder's answer is discarded; the run waits again"
    refused = [d for d in still.policy_decisions if d["stage"] == "review" and d["effect"] == "deny"]
    assert refused and "res-1" in refused[0]["reason"]
    assert any((e.actor, e.action, e.decision) == ("res-1", "review:approve", "deny") for e in AuditLog(settings.audit_path).entries())

    done = decide_as(settings, paused.thread_id, "approve", *CLINICIAN)
    assert done.status == "done" and "dr-lee" in done.policy_decisions[-1]["reason"]


def test_a_crashed_run_is_resumed_only_by_its_caller_or_a_reviewer(settings: Settings, probe: str) -> None:
    from services.runs import resume

    done = run_as(settings, probe, {"findings": "Heart size normal. Lungs clear."}, "dr-b", "clinician")
    resources = Resources.for_settings(settings)
    with pytest.raises(ActionDeniedError):
        resume(resources, caller("res-1", "researcher", "research"), done.thread_id)
    assert resume(resources, caller("dr-b", "clinician"), done.thread_id).status == done.status


def test_an_edit_with_identifiers_is_redacted(settings: Settings, probe: str) -> None:
    edit = {"impression": "Small right effusion. Discussed with John Smith at (317) 555-0143."}
    done = decide_as(settings, _paused(settings, probe).thread_id, "edit", *CLINICIAN, output=edit, note="called John Smith")
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
